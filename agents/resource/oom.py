"""OOM prevention and context-window sizing. Under memory pressure a replica should queue requests at a
memory threshold rather than admit more sequences than its KV cache holds (which preempts, recomputes and,
at worst, runs out of memory), refuse contexts longer than its real traffic ever sends, and, when requests
pile up anyway, get more replicas. Sizing reads the p95 context (prompt plus output) of the workload's own
recent requests: `--max-num-seqs` so that that many p95-long sequences fit the KV cache at the threshold,
`--max-model-len` to the longest request seen with a margin. A circuit breaker belongs at the gateway (a
vLLM replica cannot refuse its own load): its threshold is given in the reasoning."""

import math

from agents.kube_steps import scale_deployment_step, set_vllm_args_step
from agents.performance.serving import ServingContext
from agents.resource.pressure import MemoryPressure
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.recommendation import ExecutionStep, Proposal
from optiinfra.domain.resource import PrefixCacheProfile
from optiinfra.kube.vllm_args import positive_int_flag, with_flag

MEMORY_THRESHOLD = 0.9
"""Share of the KV cache the admitted sequences may fill at p95 context: the rest absorbs longer ones."""
CONTEXT_MARGIN = 1.1
CONTEXT_ROUNDING = 1024
SCALE_UP_SHARE = 0.25
"""Replicas added when requests queue under pressure: a quarter more, at least one."""
ACTING_LEVELS = frozenset({"high", "critical"})


def safe_max_num_seqs(kv_tokens: int, context_p95_tokens: int, threshold: float = MEMORY_THRESHOLD) -> int:
    """Sequences of p95 length the cache holds at `threshold` (one at least)."""
    if context_p95_tokens <= 0:
        raise ValueError("the p95 context must be positive")
    return max(1, math.floor(kv_tokens * threshold / context_p95_tokens))


def context_limit(profile: PrefixCacheProfile) -> int:
    """`--max-model-len` that admits every request seen, with a margin, rounded up."""
    wanted = profile.context_max_tokens * CONTEXT_MARGIN
    return int(math.ceil(wanted / CONTEXT_ROUNDING) * CONTEXT_ROUNDING)


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
    if profile is not None:
        safe_seqs = safe_max_num_seqs(kv_tokens, profile.context_p95_tokens)
        evidence["context_p95_tokens"] = float(profile.context_p95_tokens)
        evidence["kv_capacity_tokens"] = float(kv_tokens)
        if safe_seqs < seqs_now:
            args = with_flag(args, "--max-num-seqs", str(safe_seqs))
            changes.append(f"--max-num-seqs {seqs_now}->{safe_seqs}")
        limit = context_limit(profile)
        current_limit = positive_int_flag(deployment.args, "--max-model-len")
        if current_limit is None or limit < current_limit:
            args = with_flag(args, "--max-model-len", str(limit))
            changes.append(f"--max-model-len {current_limit or 'model default'}->{limit}")
    steps: list[ExecutionStep] = []
    if changes and (refused := context.launch_refusal(args)) is not None:
        return f"{pressure.describe()}; {', '.join(changes)} not proposed: {refused}"
    if changes:
        steps.append(set_vllm_args_step(deployment, args, f"Roll {ref} to " + ", ".join(changes)))
    current, target = deployment.replicas, deployment.replicas
    if pressure.queued_share >= 0.1 or pressure.level == "critical":
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
                f"; at the p95 context of its recent requests ({profile.context_p95_tokens:,} tokens) "
                f"that is "
                f"{safe_seqs} sequences at {MEMORY_THRESHOLD:.0%} of the cache, so further requests queue "
                f"instead of preempting. The longest request seen had {profile.context_max_tokens:,} tokens"
                if profile is not None
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
