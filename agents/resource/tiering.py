"""A KV tiering plan: offload KV blocks from GPU memory to host DRAM through kvtier, sized by replaying the
workload's own recent prefix trace (a what-if, not a constant).

The GPU tier is vLLM's own prefix cache (LRU) over the KV memory the capacity model gives each replica;
the host tier is a share of the node's DRAM in kvtier, evicting by whichever replayed policy hits most. The
fleet's caches are taken together, as prefix-aware routing makes them act (the advice notes recommend it).
A higher hit rate means fewer prompt tokens to prefill, so each replica serves more within the SLO: replicas
at the last day's peak with and without the tier give the saving."""

import json
import math
from dataclasses import replace

from agents.kube_steps import set_vllm_args_step
from agents.performance.serving import ServingContext
from optiinfra.capacity.models import ModelSpec, capacity_model_for
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import Proposal
from optiinfra.domain.resource import PrefixCacheProfile
from optiinfra.kube.vllm_args import flag_value, with_flag

HOST_SHARE = 0.5
"""Share of a node's DRAM given to the host tier: the rest stays for the OS, the runtime and vLLM's CPU
side (tokenizers, its own swap space)."""
GPU_POLICY = "lru"
MIN_HIT_GAIN = 0.03
"""A tier that saves fewer than 3 points of prompt tokens is not worth a restart with a new connector."""
KV_CONNECTOR = "OffloadingConnector"
SPEC_NAME = "KvtierOffloadingSpec"
SPEC_MODULE = "kvtier.vllm.spec"


def kv_transfer_config(host_blocks: int, block_tokens: int, policy: str) -> str:
    """The `--kv-transfer-config` JSON that loads kvtier as vLLM's offloading spec."""
    return json.dumps(
        {
            "kv_connector": KV_CONNECTOR,
            "kv_role": "kv_both",
            "kv_connector_extra_config": {
                "spec_name": SPEC_NAME,
                "spec_module_path": SPEC_MODULE,
                "host_blocks": host_blocks,
                "block_size": block_tokens,
                "policy": policy,
            },
        },
        separators=(",", ":"),
    )


def _capacity_at_hit_rate(context: ServingContext, measured_hit: float, hit: float) -> float:
    """Requests/s within the SLO when `hit` of the prompt tokens come from cache instead of `measured_hit`
    (the measured shape already has `measured_hit` of them cached)."""
    computed = context.shape.mean_prompt_tokens * (1 - hit) / max(1e-9, 1 - measured_hit)
    scale = max(1.0, computed) / max(context.shape.mean_prompt_tokens, 1e-9)
    tail = context.shape
    shape = replace(
        tail,
        mean_prompt_tokens=max(1.0, computed),
        p95_prompt_tokens=tail.p95_prompt_tokens * scale if tail.p95_prompt_tokens else None,
        p99_prompt_tokens=tail.p99_prompt_tokens * scale if tail.p99_prompt_tokens else None,
    )
    return replace(context, shape=shape).current_capacity_rps


def analyze_kv_tiering(
    snapshot: WorkloadSnapshot, context: ServingContext, profile: PrefixCacheProfile | None
) -> Proposal | str:
    if profile is None:
        return "no KV tiering plan: no prefix trace for this workload (OPTIINFRA_PREFIX_TRACE_DIR)"
    deployment = context.deployment
    if flag_value(deployment.args, "--kv-transfer-config") is not None:
        return "no KV tiering plan: the Deployment already runs a KV connector"
    if context.config.gpu_count > 1:
        return (
            "no KV tiering plan: kvtier's vLLM spec shares one store between vLLM's scheduler and worker, "
            f"which needs one process; {deployment.ref} runs tensor-parallel over "
            f"{context.config.gpu_count} GPUs"
        )
    model: ModelSpec = capacity_model_for(snapshot.workload.model_name)
    replicas = max(1, deployment.replicas)
    block_bytes = model.kv_bytes_per_token * profile.block_tokens
    gpu_blocks = replicas * context.kv_capacity_tokens / profile.block_tokens
    host_blocks_per_replica = math.floor(context.instance_type.memory_gib * HOST_SHARE * 2**30 / block_bytes)
    if host_blocks_per_replica < 1:
        return f"no KV tiering plan: a {profile.block_tokens}-token block does not fit the host tier"
    gpu_hit = profile.hit_rate(GPU_POLICY, gpu_blocks)
    tiered_blocks = gpu_blocks + replicas * host_blocks_per_replica
    policy = max(profile.hit_rates, key=lambda name: profile.hit_rate(name, tiered_blocks))
    tiered_hit = profile.hit_rate(policy, tiered_blocks)
    gain = tiered_hit - gpu_hit
    evidence: dict[str, float | str] = {
        "hit_rate_gpu_only": round(gpu_hit, 4),
        "hit_rate_with_host_tier": round(tiered_hit, 4),
        "gpu_blocks": round(gpu_blocks, 1),
        "host_blocks_per_replica": float(host_blocks_per_replica),
        "trace_unlimited_hit_rate": round(profile.unlimited_hit_rate, 4),
        "trace": profile.source,
        "host_policy": policy,
    }
    if gain < MIN_HIT_GAIN:
        return (
            f"no KV tiering plan: a host tier of {HOST_SHARE:.0%} of DRAM raises the prefix hit rate only "
            f"from "
            f"{gpu_hit:.1%} to {tiered_hit:.1%} on this workload's recent requests"
        )
    before = context.current_capacity_rps  # the measured shape: GPU-only hits already in it
    after = _capacity_at_hit_rate(context, gpu_hit, tiered_hit)
    peak = max((w.request_rate for w in snapshot.windows), default=0.0)
    needed_before = max(1, math.ceil(peak / before)) if before > 0 else replicas
    needed_after = max(1, math.ceil(peak / after)) if after > 0 else replicas
    fewer = max(0, min(replicas, needed_before) - needed_after)
    args = with_flag(
        with_flag(deployment.args, "--distributed-executor-backend", "uni"),
        "--kv-transfer-config",
        kv_transfer_config(host_blocks_per_replica, profile.block_tokens, policy),
    )
    refused = context.launch_refusal(args)
    if refused is not None:
        return f"no KV tiering plan: {refused}"
    ref = str(deployment.ref)
    host_gib = host_blocks_per_replica * block_bytes / 2**30
    evidence |= {
        "capacity_rps_before": round(before, 3),
        "capacity_rps_after": round(after, 3),
        "replicas_fewer_at_peak": float(fewer),
        "potential_monthly_savings_usd": round(fewer * context.replica_monthly_usd, 2),
    }
    return Proposal(
        agent=AgentKind.RESOURCE,
        type=RecommendationType.KV_TIERING,
        title=(
            f"Offload {deployment.ref.name}'s KV cache to {host_gib:.0f} GiB of host memory per replica: "
            f"prefix hits {gpu_hit:.0%} -> {tiered_hit:.0%}"
        ),
        reasoning=(
            f"Replaying the workload's last {profile.requests:,} requests ({profile.source}) through kvtier: "
            f"the GPU prefix caches of {replicas} replica(s) ({gpu_blocks:,.0f} blocks of "
            f"{profile.block_tokens} tokens, LRU) hit {gpu_hit:.1%} of prompt blocks; adding "
            f"{host_blocks_per_replica:,} host blocks per replica ({policy}) hits {tiered_hit:.1%} "
            f"(the trace's ceiling is {profile.unlimited_hit_rate:.1%}). Fewer prompt tokens to prefill "
            f"raise a replica's capacity within the SLO from {before:.2f} to {after:.2f} req/s"
            + (
                f", so {fewer} replica(s) fewer would carry the last day's peak (about "
                f"${fewer * context.replica_monthly_usd:,.0f}/month, for a later scan to take once the hit "
                "rate is measured; this change itself removes none)"
                if fewer
                else ""
            )
            + ". Applied as a rolling update with kvtier as vLLM's offloading spec; the previous arguments "
            "are restored if it fails."
        ),
        estimated_monthly_savings_usd=0.0,
        current_monthly_cost_usd=replicas * context.replica_monthly_usd,
        projected_monthly_cost_usd=replicas * context.replica_monthly_usd,
        confidence=0.7,
        risk_level=RiskLevel.MEDIUM,
        steps=[set_vllm_args_step(deployment, args, f"Roll {ref} with kvtier KV offloading")],
        evidence=evidence,
    )
