"""Batch-size tuning: vLLM's `--max-num-seqs` (how many sequences decode together) and
`--max-num-batched-tokens` (the token budget of one scheduler step, which paces chunked prefill) trade
latency against throughput. The capacity model gives, for each setting, the rate one replica serves within
the SLO; the agent proposes the setting that serves the most when it beats the current one clearly, and
applies it with a rolling update of the Deployment's arguments."""

import math
from dataclasses import replace

from agents.kube_steps import set_vllm_args_step
from agents.performance.serving import ServingContext
from optiinfra.capacity import ServingConfig
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import Proposal
from optiinfra.kube.vllm_args import with_flag

MAX_NUM_SEQS = (16, 32, 64, 128, 256, 512)
MAX_NUM_BATCHED_TOKENS = (2048, 4096, 8192)
MIN_GAIN = 0.10
"""A setting must serve at least this much more within the SLO to be worth a rolling restart."""
NEAR_BEST = 0.02
"""Settings within this of the best count as equal; the one closest to the current wins."""


def _candidates(config: ServingConfig) -> list[ServingConfig]:
    return [
        replace(config, max_num_seqs=seqs, max_num_batched_tokens=tokens)
        for seqs in sorted({*MAX_NUM_SEQS, config.max_num_seqs})
        for tokens in sorted({*MAX_NUM_BATCHED_TOKENS, config.max_num_batched_tokens})
    ]


def _distance(a: ServingConfig, b: ServingConfig) -> float:
    return abs(math.log2(a.max_num_seqs / b.max_num_seqs)) + abs(
        math.log2(a.max_num_batched_tokens / b.max_num_batched_tokens)
    )


def analyze_serving_tuning(snapshot: WorkloadSnapshot, context: ServingContext) -> Proposal | str:
    current = context.config
    current_capacity = context.current_capacity_rps
    scored = [
        (candidate, current_capacity if candidate == current else context.capacity_rps(candidate))
        for candidate in _candidates(current)
    ]
    best_capacity = max(capacity for _, capacity in scored)
    if best_capacity <= 0:
        return "no batch setting meets the SLO on this replica"
    near_best = [c for c, capacity in scored if capacity >= best_capacity * (1 - NEAR_BEST)]
    chosen = min(near_best, key=lambda c: _distance(c, current))
    chosen_capacity = next(capacity for candidate, capacity in scored if candidate is chosen)
    if chosen_capacity < current_capacity * (1 + MIN_GAIN):
        return (
            f"--max-num-seqs {current.max_num_seqs} and --max-num-batched-tokens "
            f"{current.max_num_batched_tokens} serve {current_capacity:.2f} req/s within the SLO, within "
            f"{MIN_GAIN:.0%} of the best setting"
        )
    deployment = context.deployment
    args = deployment.args
    if chosen.max_num_seqs != current.max_num_seqs:
        args = with_flag(args, "--max-num-seqs", str(chosen.max_num_seqs))
    if chosen.max_num_batched_tokens != current.max_num_batched_tokens:
        args = with_flag(args, "--max-num-batched-tokens", str(chosen.max_num_batched_tokens))
    refused = context.launch_refusal(args)
    if refused is not None:
        return (
            f"batching --max-num-seqs {chosen.max_num_seqs} --max-num-batched-tokens "
            f"{chosen.max_num_batched_tokens} not proposed: {refused}"
        )
    peak = max((w.request_rate for w in snapshot.windows), default=0.0)
    replicas_now = max(1, math.ceil(peak / current_capacity)) if current_capacity > 0 else deployment.replicas
    replicas_tuned = max(1, math.ceil(peak / chosen_capacity))
    fewer = max(0, min(deployment.replicas, replicas_now) - replicas_tuned)
    savings = fewer * context.replica_monthly_usd
    ref = str(deployment.ref)
    gain = chosen_capacity / current_capacity if current_capacity > 0 else math.inf
    step = set_vllm_args_step(
        deployment,
        args,
        f"Roll {ref} to --max-num-seqs {chosen.max_num_seqs} --max-num-batched-tokens "
        f"{chosen.max_num_batched_tokens}",
    )
    capacity_text = "more than any load" if math.isinf(gain) else f"{gain:.2f}x"
    return Proposal(
        agent=AgentKind.PERFORMANCE,
        type=RecommendationType.SERVING_TUNING,
        title=(
            f"Tune {deployment.ref.name} batching: --max-num-seqs "
            f"{current.max_num_seqs}->{chosen.max_num_seqs}, --max-num-batched-tokens "
            f"{current.max_num_batched_tokens}->{chosen.max_num_batched_tokens}"
        ),
        reasoning=(
            f"On the capacity model with this workload's measured request shape "
            f"({context.shape.mean_prompt_tokens:.0f} prompt / {context.shape.mean_output_tokens:.0f} output "
            f"tokens), one {context.instance_type.name} replica serves {current_capacity:.2f} req/s within "
            f"the SLO as configured and {chosen_capacity:.2f} req/s with the new batching ({capacity_text}). "
            f"At the last day's peak of {peak:.2f} req/s that is {replicas_tuned} replicas instead of "
            f"{replicas_now}. "
            f"Applied as a rolling update; the previous arguments are restored if it fails."
        ),
        estimated_monthly_savings_usd=savings,
        current_monthly_cost_usd=deployment.replicas * context.replica_monthly_usd,
        projected_monthly_cost_usd=(deployment.replicas - fewer) * context.replica_monthly_usd,
        confidence=0.7,
        risk_level=RiskLevel.MEDIUM,
        steps=[step],
        evidence={
            "max_num_seqs": float(chosen.max_num_seqs),
            "max_num_batched_tokens": float(chosen.max_num_batched_tokens),
            "capacity_rps_before": round(current_capacity, 3),
            "capacity_rps_after": round(chosen_capacity, 3),
            "peak_rps_last_day": round(peak, 3),
        },
    )
