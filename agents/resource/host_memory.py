"""Host memory: a vLLM container killed for memory (OOMKilled) ran out of host RAM, never of GPU memory,
which vLLM preallocates. What grows on the host is the KV host tier when one runs (kvtier's host blocks),
CPU swap space and the API server's workers, so the answer is there: shrink the host tier by half, or,
without one, give the container the memory it needs. GPU KV settings (`--max-num-seqs`, the GPU cache) are
left alone: they do not touch host memory."""

import json

from agents.kube_steps import set_vllm_args_step
from agents.performance.serving import ServingContext
from agents.resource.pressure import MemoryPressure
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.recommendation import Proposal
from optiinfra.kube.vllm_args import flag_value, with_flag

HOST_TIER_CUT = 0.5
"""Share of the host tier kept after a memory kill: half, then the next scan looks again."""


def host_tier_blocks(args: list[str]) -> tuple[dict[str, object], int] | None:
    """The `--kv-transfer-config` and its host blocks when the replica runs a host KV tier."""
    raw = flag_value(args, "--kv-transfer-config")
    if raw is None:
        return None
    try:
        config = json.loads(raw)
        blocks = int(config["kv_connector_extra_config"]["host_blocks"])
    except (ValueError, KeyError, TypeError):
        return None
    return (config, blocks) if blocks > 0 else None


def analyze_host_memory(context: ServingContext, pressure: MemoryPressure) -> Proposal | str:
    if pressure.oom_events == 0:
        return "no host-memory change: no vLLM container was killed for host memory"
    deployment = context.deployment
    ref = str(deployment.ref)
    monthly = deployment.replicas * context.replica_monthly_usd
    killed = f"{pressure.oom_events} of {deployment.ref.name}'s vLLM containers last stopped OOMKilled"
    tier = host_tier_blocks(list(deployment.args))
    if tier is None:
        return Proposal(
            agent=AgentKind.RESOURCE,
            type=RecommendationType.OOM_PREVENTION,
            title=f"Give {deployment.ref.name}'s vLLM containers more host memory",
            reasoning=(
                f"{killed}: the kernel killed them for host RAM, not GPU memory (vLLM preallocates that). "
                "They run no KV host tier, so what outgrew the limit is the process itself (CPU swap space, "
                "the API server's workers, loading the weights): raise the container's memory limit, or "
                "lower --swap-space. GPU KV settings are left as they are: they do not use host memory. "
                "The Deployment's resources are its owners' to set; OptiInfra changes nothing itself."
            ),
            estimated_monthly_savings_usd=0.0,
            current_monthly_cost_usd=monthly,
            projected_monthly_cost_usd=monthly,
            confidence=0.6,
            risk_level=RiskLevel.LOW,
            steps=[],
            evidence={"oom_killed_pods": float(pressure.oom_events)},
        )
    config, blocks = tier
    kept = max(1, int(blocks * HOST_TIER_CUT))
    extra = dict(config["kv_connector_extra_config"])  # type: ignore[call-overload]
    extra["host_blocks"] = kept
    args = with_flag(
        list(deployment.args),
        "--kv-transfer-config",
        json.dumps({**config, "kv_connector_extra_config": extra}, separators=(",", ":")),
    )
    refused = context.launch_refusal(args)
    if refused is not None:
        return f"{killed}; shrinking the host KV tier not proposed: {refused}"
    return Proposal(
        agent=AgentKind.RESOURCE,
        type=RecommendationType.OOM_PREVENTION,
        title=f"Shrink {deployment.ref.name}'s host KV tier after OOM kills: {blocks:,} -> {kept:,} blocks",
        reasoning=(
            f"{killed}: the kernel killed them for host RAM, and the largest thing they keep there is "
            f"kvtier's host tier of {blocks:,} KV blocks. Halving it to {kept:,} gives the process room; the "
            "GPU KV settings stay, since they use no host memory. Applied as a rolling update; the previous "
            "arguments are restored if it fails."
        ),
        estimated_monthly_savings_usd=0.0,
        current_monthly_cost_usd=monthly,
        projected_monthly_cost_usd=monthly,
        confidence=0.7,
        risk_level=RiskLevel.MEDIUM,
        steps=[set_vllm_args_step(deployment, args, f"Roll {ref} with a {kept:,}-block host KV tier")],
        evidence={
            "oom_killed_pods": float(pressure.oom_events),
            "host_blocks_before": float(blocks),
            "host_blocks_after": float(kept),
        },
    )
