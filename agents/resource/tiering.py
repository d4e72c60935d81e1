"""A KV tiering plan: offload KV blocks from GPU memory to host DRAM through kvtier, sized by replaying the
workload's own recent prefix trace (a what-if, not a constant).

The GPU tier is vLLM's own prefix cache (LRU) over the KV memory each replica has left once its running
sequences hold their blocks; the host tier is a share of the node's DRAM in kvtier, evicting by whichever
replayed policy hits most. Each replica's caches see only the requests the workload's routing sends it:
the trace is replayed split over the replicas as that routing splits it (round-robin, least-request and a
plain Service give every cache a slice of each conversation; a prefix-aware gateway keeps conversations
together). A block found in host memory must still be copied back to the GPU: it saves only the share of
its prefill that the copy does not take. A higher hit rate means fewer prompt tokens to prefill, so each
replica serves more within the SLO: replicas at the last day's peak with and without the tier give the
saving. When the tier pays only under prefix-aware routing, the plan says so and proposes the routing
first, as advice for the gateway, instead of a tier that would not pay under today's routing."""

import json
import math
from dataclasses import dataclass, replace

from agents.kube_steps import set_vllm_args_step
from agents.performance.serving import ServingContext
from optiinfra.capacity import prefill_throughput_tokens_per_s
from optiinfra.capacity.models import ModelSpec, capacity_model_for
from optiinfra.domain.enums import AgentKind, RecommendationType, RequestRouting, RiskLevel
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
HOST_TO_GPU_BYTES_PER_S = 20e9
"""Host-to-GPU copy bandwidth for pinned memory over PCIe 4.0 x16, the link of the A10G, L4 and L40S nodes:
about 20 GB/s of its 32 GB/s in practice."""


@dataclass(frozen=True)
class TierOutcome:
    """Prefix hit rates of one routing without and with the host tier."""

    routing: RequestRouting
    gpu_hit: float
    tiered_hit: float
    policy: str
    load_worth: float
    """Share of a host hit's prefill saved once the block is copied back (0 when copying is slower)."""

    @property
    def effective_hit(self) -> float:
        """The hit rate the tier is worth in prefill: host hits discounted by their copy back."""
        return self.gpu_hit + (self.tiered_hit - self.gpu_hit) * self.load_worth

    @property
    def gain(self) -> float:
        return self.effective_hit - self.gpu_hit


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
    snapshot: WorkloadSnapshot,
    context: ServingContext,
    profile: PrefixCacheProfile | None,
    host_memory_kills: int = 0,
) -> Proposal | str:
    """`host_memory_kills`: vLLM containers last stopped OOMKilled, which rules a new host tier out."""
    if profile is None:
        return "no KV tiering plan: no prefix trace for this workload (OPTIINFRA_PREFIX_TRACE_DIR)"
    if host_memory_kills:
        return (
            f"no KV tiering plan: {host_memory_kills} vLLM container(s) were killed for host memory, which a "
            "host tier would take more of"
        )
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
    if replicas != profile.replicas:
        return (
            f"no KV tiering plan: the prefix trace was replayed over {profile.replicas} cache(s) and "
            f"{deployment.ref} has {replicas} replicas; a later scan replays it over them"
        )
    block_bytes = model.kv_bytes_per_token * profile.block_tokens
    held_per_replica = _blocks_held_by_running(snapshot, context, profile.block_tokens)
    free_per_replica = max(0.0, context.kv_capacity_tokens / profile.block_tokens - held_per_replica)
    gpu_blocks = replicas * free_per_replica
    host_blocks_per_replica = math.floor(context.instance_type.memory_gib * HOST_SHARE * 2**30 / block_bytes)
    if host_blocks_per_replica < 1:
        return f"no KV tiering plan: a {profile.block_tokens}-token block does not fit the host tier"
    tiered_blocks = gpu_blocks + replicas * host_blocks_per_replica
    prefill_s = profile.block_tokens / prefill_throughput_tokens_per_s(
        context.config, max(1.0, context.shape.mean_prompt_tokens)
    )
    load_s = block_bytes / HOST_TO_GPU_BYTES_PER_S
    load_worth = max(0.0, 1.0 - load_s / prefill_s)
    routing = snapshot.workload.request_routing

    def outcome(under: RequestRouting) -> TierOutcome:
        policy = max(profile.hit_rates, key=lambda name: profile.hit_rate(name, tiered_blocks, under))
        return TierOutcome(
            routing=under,
            gpu_hit=profile.hit_rate(GPU_POLICY, gpu_blocks, under),
            tiered_hit=profile.hit_rate(policy, tiered_blocks, under),
            policy=policy,
            load_worth=load_worth,
        )

    now = outcome(routing)
    affine = now if routing.prefix_affine else outcome(RequestRouting.PREFIX_AWARE)
    gpu_hit, tiered_hit, policy = now.gpu_hit, now.tiered_hit, now.policy
    evidence: dict[str, float | str] = {
        "routing": routing.value,
        "hit_rate_gpu_only": round(gpu_hit, 4),
        "hit_rate_with_host_tier": round(tiered_hit, 4),
        "effective_hit_rate_with_host_tier": round(now.effective_hit, 4),
        "hit_rate_prefix_aware_with_host_tier": round(affine.effective_hit, 4),
        "gpu_blocks": round(gpu_blocks, 1),
        "gpu_blocks_held_by_running_per_replica": round(held_per_replica, 1),
        "host_blocks_per_replica": float(host_blocks_per_replica),
        "block_load_ms": round(load_s * 1000, 3),
        "block_prefill_ms": round(prefill_s * 1000, 3),
        "trace_unlimited_hit_rate": round(profile.unlimited_hit_rate, 4),
        "trace": profile.source,
        "host_policy": policy,
    }
    if load_worth <= 0:
        return (
            f"no KV tiering plan: copying a {profile.block_tokens}-token block back from host memory takes "
            f"{load_s * 1000:.2f} ms, longer than prefilling it ({prefill_s * 1000:.2f} ms)"
        )
    if now.gain < MIN_HIT_GAIN:
        if affine.gain >= MIN_HIT_GAIN and affine.effective_hit - gpu_hit >= MIN_HIT_GAIN:
            return _routing_first(snapshot, context, profile, now, affine, evidence)
        return (
            f"no KV tiering plan: a host tier of {HOST_SHARE:.0%} of DRAM raises the prefix hit rate only "
            f"from {gpu_hit:.1%} to {now.effective_hit:.1%} ({routing.value} routing over {replicas} "
            "replica(s), host hits discounted by their copy back) on this workload's recent requests"
        )
    before = context.current_capacity_rps  # the measured shape: GPU-only hits already in it
    after = _capacity_at_hit_rate(context, gpu_hit, now.effective_hit)
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
            f"Replaying the workload's last {profile.requests:,} requests ({profile.source}) through kvtier, "
            f"split over {replicas} replica(s) as {routing.value} routing sends them: their GPU prefix "
            f"caches ({gpu_blocks:,.0f} blocks of {profile.block_tokens} tokens left once running sequences "
            "hold "
            f"{held_per_replica:,.0f} per replica, LRU) hit {gpu_hit:.1%} of prompt blocks; adding "
            f"{host_blocks_per_replica:,} host blocks per replica ({policy}) hits {tiered_hit:.1%} (the "
            f"trace's ceiling is {profile.unlimited_hit_rate:.1%}). Copying a block back takes "
            f"{load_s * 1000:.2f} ms against {prefill_s * 1000:.2f} ms to prefill it, so host hits count "
            f"{load_worth:.0%}: worth {now.effective_hit:.1%}"
            + (
                f"; prefix-aware routing would make it {affine.effective_hit:.1%}"
                if not routing.prefix_affine and affine.effective_hit > now.effective_hit + 0.005
                else ""
            )
            + ". Fewer prompt tokens to prefill "
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


def _routing_first(
    snapshot: WorkloadSnapshot,
    context: ServingContext,
    profile: PrefixCacheProfile,
    now: TierOutcome,
    affine: TierOutcome,
    evidence: dict[str, float | str],
) -> Proposal:
    """The tier pays only once requests reach the replica holding their prefix: advice to route by prefix
    first (the gateway is the application's), with what the tier then adds."""
    deployment = context.deployment
    replicas = max(1, deployment.replicas)
    monthly = replicas * context.replica_monthly_usd
    return Proposal(
        agent=AgentKind.RESOURCE,
        type=RecommendationType.KV_TIERING,
        title=(
            f"Route {deployment.ref.name}'s requests by prefix before offloading its KV cache: prefix hits "
            f"{now.effective_hit:.0%} -> {affine.effective_hit:.0%}"
        ),
        reasoning=(
            f"Replaying the workload's last {profile.requests:,} requests ({profile.source}) split over "
            f"{replicas} replicas as {now.routing.value} routing sends them, each cache sees a slice of "
            f"every conversation: the GPU caches hit {now.gpu_hit:.1%}, and a host tier would raise that "
            "only to "
            f"{now.effective_hit:.1%} (host hits discounted by their copy back), under the "
            f"{MIN_HIT_GAIN:.0%} a restart with a new connector is worth. With a prefix-aware gateway "
            "(requests go to the replica holding the longest cached prefix, within a load bound) the same "
            f"caches hit {affine.gpu_hit:.1%}, and the host tier brings {affine.effective_hit:.1%}. Route by "
            "prefix first (the gateway's routing policy: it lives in front of the Service, outside "
            "OptiInfra's reach); a later scan then proposes the tier on the routing it measures."
        ),
        estimated_monthly_savings_usd=0.0,
        current_monthly_cost_usd=monthly,
        projected_monthly_cost_usd=monthly,
        confidence=0.6,
        risk_level=RiskLevel.LOW,
        steps=[],
        evidence=evidence | {"needs_routing": RequestRouting.PREFIX_AWARE.value},
    )


def _blocks_held_by_running(snapshot: WorkloadSnapshot, context: ServingContext, block_tokens: int) -> float:
    """KV blocks one replica's running sequences hold on average (prompt plus half the output each), which
    the prefix cache cannot use."""
    per_replica = [w.running / w.replicas for w in snapshot.windows if w.replicas > 0]
    if not per_replica:
        return 0.0
    running = sum(per_replica) / len(per_replica)
    tokens = context.shape.mean_prompt_tokens + context.shape.mean_output_tokens / 2
    return running * math.ceil(tokens / block_tokens)
