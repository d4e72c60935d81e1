"""OOM prevention. vLLM V1 admits a request when the KV cache has free blocks for it and preempts (frees a
running sequence's blocks and recomputes it later) when a step cannot grow every sequence: memory pressure
costs recomputation and latency, not a crash. Under pressure a replica should rather queue requests at a
memory threshold, and when requests pile up anyway, get more replicas.

`--max-num-seqs` is capped at the number of sequences whose contexts (prompt plus output) the KV cache
holds at the threshold in 95% of moments, the contexts drawn from the workload's own mix (a log-normal fit
of its recent requests' median and p95, summed over the batch): sizing every slot as if it held a p95
context would cut concurrency several-fold on a long-tailed mix. The cap never goes below the concurrency
one replica runs at its SLO capacity; where the cache cannot hold that, replicas are the answer.
`--max-model-len` is left alone: it frees no KV memory in vLLM V1 (blocks are allocated as sequences
grow) and lowering it would reject tomorrow's longer request; the context-window path raises it when asked.
A circuit breaker belongs at the gateway (a vLLM replica cannot refuse its own load): its threshold is given
in the reasoning."""

import math

from agents.kube_steps import scale_deployment_step, set_vllm_args_step
from agents.performance.serving import ServingContext
from agents.resource.pressure import MemoryPressure
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.recommendation import ExecutionStep, Proposal
from optiinfra.domain.resource import PrefixCacheProfile
from optiinfra.kube.vllm_args import with_flag

MEMORY_THRESHOLD = 0.9
"""Share of the KV cache the admitted sequences may fill: the rest absorbs longer ones."""
Z_95 = 1.6449
"""The standard normal's 95th percentile."""
SCALE_UP_SHARE = 0.25
"""Replicas added when requests queue under pressure: a quarter more, at least one."""
ACTING_LEVELS = frozenset({"high", "critical"})


def safe_max_num_seqs(kv_tokens: int, context_p95_tokens: int, threshold: float = MEMORY_THRESHOLD) -> int:
    """Sequences of p95 length the cache holds at `threshold` (one at least)."""
    if context_p95_tokens <= 0:
        raise ValueError("the p95 context must be positive")
    return max(1, math.floor(kv_tokens * threshold / context_p95_tokens))


def kv_fit_sequences(
    kv_tokens: int, context_p50_tokens: int, context_p95_tokens: int, threshold: float = MEMORY_THRESHOLD
) -> int:
    """Most sequences whose summed contexts stay within `threshold` of the KV cache 95% of the time, one at
    least. Contexts are log-normal through the median and p95 given (mean m, standard deviation s); n of them
    sum to about Normal(n m, n s^2), so n is the largest with n m + 1.645 sqrt(n) s <= threshold x cache."""
    if context_p50_tokens <= 0 or context_p95_tokens <= 0:
        raise ValueError("the context quantiles must be positive")
    sigma = math.log(max(context_p95_tokens, context_p50_tokens) / context_p50_tokens) / Z_95
    mean = context_p50_tokens * math.exp(sigma**2 / 2)
    spread = mean * math.sqrt(math.expm1(sigma**2))
    budget = kv_tokens * threshold
    root = (-Z_95 * spread + math.sqrt((Z_95 * spread) ** 2 + 4 * mean * budget)) / (2 * mean)
    return max(1, math.floor(root**2))


def analyze_oom_prevention(
    context: ServingContext, pressure: MemoryPressure, profile: PrefixCacheProfile | None
) -> Proposal | str:
    if pressure.level not in ACTING_LEVELS:
        return f"no OOM prevention needed: {pressure.describe()}"
    deployment = context.deployment
    ref = str(deployment.ref)
    args = list(deployment.args)
    changes: list[str] = []
    evidence: dict[str, float | str] = {"pressure_score": round(pressure.score, 3)}
    kv_tokens = context.kv_capacity_tokens
    seqs_now = context.config.max_num_seqs
    safe_seqs = seqs_now
    kv_fit: int | None = None
    cache_short = False  # the cache cannot hold the concurrency the SLO needs at this context mix
    sized = profile is not None and profile.context_p50_tokens > 0
    if profile is not None and sized:
        kv_fit = kv_fit_sequences(kv_tokens, profile.context_p50_tokens, profile.context_p95_tokens)
        slo_floor = max(1, math.ceil(context.slo_concurrency))
        cache_short = kv_fit < slo_floor
        safe_seqs = min(seqs_now, max(kv_fit, slo_floor))
        evidence |= {
            "context_p50_tokens": float(profile.context_p50_tokens),
            "context_p95_tokens": float(profile.context_p95_tokens),
            "kv_capacity_tokens": float(kv_tokens),
            "kv_fit_sequences": float(kv_fit),
            "slo_concurrency": round(context.slo_concurrency, 2),
        }
        if safe_seqs < seqs_now:
            args = with_flag(args, "--max-num-seqs", str(safe_seqs))
            changes.append(f"--max-num-seqs {seqs_now}->{safe_seqs}")
    steps: list[ExecutionStep] = []
    if changes and (refused := context.launch_refusal(args)) is not None:
        return f"{pressure.describe()}; {', '.join(changes)} not proposed: {refused}"
    if changes:
        steps.append(set_vllm_args_step(deployment, args, f"Roll {ref} to " + ", ".join(changes)))
    current, target = deployment.replicas, deployment.replicas
    if pressure.queued_share >= 0.1 or pressure.level == "critical" or cache_short:
        target = current + max(1, math.ceil(current * SCALE_UP_SHARE))
        steps.append(scale_deployment_step(ref, target, current))
        changes.append(f"replicas {current}->{target}")
    if not steps:
        return f"{pressure.describe()}, but the arguments already fit the measured contexts"
    breaker = max(1, 2 * safe_seqs)
    return Proposal(
        agent=AgentKind.RESOURCE,
        type=RecommendationType.OOM_PREVENTION,
        title=f"Relieve memory pressure on {deployment.ref.name}: " + ", ".join(changes),
        reasoning=(
            f"{pressure.describe().capitalize()}. One {context.instance_type.name} replica's KV cache holds "
            f"{kv_tokens:,} tokens"
            + (
                f"; with its recent requests' contexts (median {profile.context_p50_tokens:,}, p95 "
                f"{profile.context_p95_tokens:,} tokens) about {kv_fit} sequences stay within "
                f"{MEMORY_THRESHOLD:.0%} of it 95% of the time, and the replica runs about "
                f"{context.slo_concurrency:.0f} at its SLO capacity ({context.sources}), so it admits "
                f"{safe_seqs} at once and further requests queue instead of preempting"
                + (
                    "; the cache cannot hold the SLO's concurrency at this mix, so replicas are added"
                    if cache_short
                    else ""
                )
                + f". --max-model-len stays: the longest request seen had {profile.context_max_tokens:,} "
                "tokens, and a lower limit would free no KV memory"
                if profile is not None and sized
                else ""
            )
            + f". A gateway circuit breaker should shed load past {breaker} waiting requests per replica. "
            "Applied as a rolling update; the previous arguments and replica count are restored if it fails."
        ),
        estimated_monthly_savings_usd=0.0,
        current_monthly_cost_usd=current * context.replica_monthly_usd,
        projected_monthly_cost_usd=target * context.replica_monthly_usd,
        confidence=0.75,
        risk_level=RiskLevel.MEDIUM,
        steps=steps,
        evidence=evidence,
    )
