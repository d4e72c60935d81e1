"""The Resource agent's half of the app <-> infra loop. Under memory pressure it asks the Application agent
to cut context, stating the context each sequence can have when the batch is full; asked in turn for a
longer context window, it checks that the KV cache holds sequences that long and rolls `--max-model-len`
up to it."""

import math

from agents.kube_steps import set_vllm_args_step
from agents.performance.serving import ServingContext
from agents.resource.oom import ACTING_LEVELS, MEMORY_THRESHOLD, safe_max_num_seqs
from agents.resource.pressure import MemoryPressure
from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.recommendation import Proposal
from optiinfra.kube.vllm_args import positive_int_flag, with_flag

WINDOW_ROUNDING = 256
FEW_SEQUENCES = 4
"""Below this many sequences of the requested length per replica, long requests would queue behind each
other: the plan says so and points at KV tiering."""


def affordable_context_tokens(context: ServingContext) -> int:
    """The context each sequence can have when the batch is full and the cache at its threshold."""
    per_sequence = context.kv_capacity_tokens * MEMORY_THRESHOLD / context.config.max_num_seqs
    return max(WINDOW_ROUNDING, int(per_sequence // WINDOW_ROUNDING) * WINDOW_ROUNDING)


def context_reduction_request(context: ServingContext, pressure: MemoryPressure) -> AgentRequest | None:
    if pressure.level not in ACTING_LEVELS:
        return None
    affordable = affordable_context_tokens(context)
    return AgentRequest(
        kind=AgentRequestKind.REDUCE_CONTEXT,
        from_agent=AgentKind.RESOURCE,
        reason=(
            f"{pressure.describe()}; with {context.config.max_num_seqs} sequences in a full batch each can "
            f"have about {affordable:,} tokens of context"
        ),
        context_tokens=affordable,
    )


def analyze_context_request(context: ServingContext, request: AgentRequest) -> Proposal | str:
    """Answer the Application agent's request for a window of `request.context_tokens` tokens."""
    if request.kind is not AgentRequestKind.ADD_KV_CAPACITY or request.context_tokens is None:
        return f"nothing to do for a {request.kind.value} request"
    deployment = context.deployment
    wanted = int(math.ceil(request.context_tokens / WINDOW_ROUNDING) * WINDOW_ROUNDING)
    current = positive_int_flag(deployment.args, "--max-model-len")
    if current is None or current >= wanted:
        return (
            f"the {request.from_agent.value} agent asked for {wanted:,}-token contexts: "
            f"{deployment.ref.name} already admits {current or 'the model default'}"
        )
    kv_tokens = context.kv_capacity_tokens
    if kv_tokens < wanted:
        return (
            f"the {request.from_agent.value} agent asked for {wanted:,}-token contexts, but one "
            f"{context.instance_type.name} replica's KV cache holds only {kv_tokens:,} tokens "
            f"({context.kv_capacity_source}): that needs a "
            "GPU with more memory or tensor parallelism"
        )
    sequences = safe_max_num_seqs(kv_tokens, wanted)
    crowded = (
        f" Only {sequences} such sequences fit a replica at once: if many requests are that long, offload "
        "KV blocks to host memory (KV tiering) before they queue."
        if sequences < FEW_SEQUENCES
        else ""
    )
    ref = str(deployment.ref)
    args = with_flag(list(deployment.args), "--max-model-len", str(wanted))
    refused = context.launch_refusal(args)
    if refused is not None:
        return f"the {request.from_agent.value} agent asked for {wanted:,}-token contexts: {refused}"
    replicas_cost = deployment.replicas * context.replica_monthly_usd
    return Proposal(
        agent=AgentKind.RESOURCE,
        type=RecommendationType.CONTEXT_RIGHT_SIZING,
        title=(
            f"Admit {wanted:,}-token contexts on {deployment.ref.name} (--max-model-len {current}->{wanted})"
        ),
        reasoning=(
            f"Asked by the {request.from_agent.value} agent: {request.reason}. One "
            f"{context.instance_type.name} replica's KV cache holds {kv_tokens:,} tokens "
            f"({context.kv_capacity_source}), {sequences} "
            f"sequences of {wanted:,} tokens at {MEMORY_THRESHOLD:.0%} of the cache.{crowded} Applied as a "
            "rolling update; the previous arguments are restored if it fails."
        ),
        estimated_monthly_savings_usd=0.0,
        current_monthly_cost_usd=replicas_cost,
        projected_monthly_cost_usd=replicas_cost,
        confidence=0.7,
        risk_level=RiskLevel.MEDIUM,
        steps=[
            set_vllm_args_step(deployment, args, f"Roll {ref} to --max-model-len {wanted}", "raise-context")
        ],
        evidence={
            "requested_context_tokens": float(request.context_tokens),
            "kv_capacity_tokens": float(kv_tokens),
            "sequences_at_requested_context": float(sequences),
        },
    )
