"""The Resource agent's analyzers on snapshots of a Deployment-served workload: memory pressure from vLLM
and Kubernetes signals, OOM prevention through the vLLM arguments and replicas, and a KV tiering plan
sized by replaying the workload's own prefix trace (the real Mooncake trace here)."""

import json
import math

import numpy as np
import pytest

from agents.resource.context_window import analyze_context_request
from agents.resource.oom import kv_fit_sequences, safe_max_num_seqs
from agents.resource.pressure import memory_pressure
from agents.resource.strategies import analyze_resource
from kvtier.vllm.spec import parse_extra_config
from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
from optiinfra.domain.enums import AgentKind, RecommendationType, RequestRouting, StepAction
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.resource import PrefixCacheProfile
from optiinfra.kube.vllm_args import flag_value
from tests.agents.performance.snapshots import MODEL, NOW, context_of, kube_snapshot


@pytest.fixture
def profile(mooncake_replica_profile: PrefixCacheProfile) -> PrefixCacheProfile:
    """The real Mooncake trace replayed pooled and split over the four replicas of the snapshots below
    (tests/support/data.py: replayed once per session)."""
    assert mooncake_replica_profile.replicas == 4
    return mooncake_replica_profile


def _routed(snapshot: WorkloadSnapshot, routing: RequestRouting) -> WorkloadSnapshot:
    return snapshot.model_copy(
        update={"workload": snapshot.workload.model_copy(update={"request_routing": routing})}
    )


def _pressured(
    snapshot: WorkloadSnapshot, *, kv: float, preemptions: float, waiting: float
) -> WorkloadSnapshot:
    windows = [
        w.model_copy(
            update={"kv_usage_max": kv, "preemptions": preemptions, "running": 40.0, "waiting": waiting}
        )
        for w in snapshot.windows
    ]
    return snapshot.model_copy(update={"windows": windows})


def test_pressure_is_low_on_a_calm_workload_and_rises_with_each_signal() -> None:
    calm = kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0)
    assert calm.deployment is not None
    low = memory_pressure(calm.windows, calm.deployment.pods, NOW)
    assert low.level == "low" and low.score == 0.0
    full = _pressured(calm, kv=0.97, preemptions=0.0, waiting=0.0)
    assert memory_pressure(full.windows, calm.deployment.pods, NOW).level == "critical"
    thrashing = _pressured(calm, kv=0.8, preemptions=30.0, waiting=20.0)
    found = memory_pressure(thrashing.windows, calm.deployment.pods, NOW)
    assert found.level in {"high", "critical"}
    assert found.preemptions_per_1k > 0 and found.queued_share == pytest.approx(20 / 60)
    killed = [
        calm.deployment.pods[0].model_copy(update={"restarts": 1, "last_termination_reason": "OOMKilled"})
    ]
    oom = memory_pressure(calm.windows, killed + calm.deployment.pods[1:], NOW)
    # A container killed for host RAM says nothing of the GPU's KV cache: counted apart, not in the score.
    assert oom.oom_events == 1 and oom.score == 0.0 and oom.level == "low"
    assert "host memory: 1 pod(s) last stopped OOMKilled" in oom.describe()


def test_sizing_rules() -> None:
    assert safe_max_num_seqs(100_000, 10_000) == 9
    assert safe_max_num_seqs(1_000, 10_000) == 1
    with pytest.raises(ValueError, match="positive"):
        safe_max_num_seqs(1_000, 0)


def test_a_long_tailed_mix_fits_more_sequences_than_its_p95_suggests_and_a_uniform_one_no_more() -> None:
    # every context alike: no spread, so exactly what fits at the threshold
    assert kv_fit_sequences(100_000, 10_000, 10_000) == safe_max_num_seqs(100_000, 10_000) == 9
    # median 1,000, p95 10,000: sized on the sum of the batch's contexts, not on n p95-long ones
    fit = kv_fit_sequences(100_000, 1_000, 10_000)
    assert safe_max_num_seqs(100_000, 10_000) < fit < 90_000 // 1_000
    # the sum of `fit` log-normal contexts stays within 90% of the cache in about 95% of draws
    rng = np.random.default_rng(7)
    sigma = np.log(10.0) / 1.6449
    sums = rng.lognormal(np.log(1_000), sigma, size=(20_000, fit)).sum(axis=1)
    assert 0.93 <= float(np.mean(sums <= 90_000)) <= 0.97
    assert kv_fit_sequences(1_000, 5_000, 9_000) == 1
    with pytest.raises(ValueError, match="positive"):
        kv_fit_sequences(1_000, 0, 10)


def test_under_pressure_the_agent_queues_at_a_memory_threshold_caps_context_and_adds_replicas(
    profile: PrefixCacheProfile,
) -> None:
    snapshot = _pressured(
        kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0), kv=0.98, preemptions=40.0, waiting=30.0
    )
    snapshot = snapshot.model_copy(update={"prefix_cache": profile})
    result = analyze_resource(snapshot)
    first = result.proposals[0]
    assert first.type is RecommendationType.OOM_PREVENTION and first.agent is AgentKind.RESOURCE
    set_args, scale = first.steps
    assert set_args.action is StepAction.SET_VLLM_ARGS and scale.action is StepAction.SCALE_DEPLOYMENT
    args = json.loads(set_args.params["args"])
    assert set_args.compensation is not None
    assert json.loads(set_args.compensation.params["args"]) == snapshot.deployment.args  # type: ignore[union-attr]
    seqs = int(flag_value(args, "--max-num-seqs") or 0)
    assert 1 <= seqs < 256
    # never below the concurrency the replica needs at its SLO capacity, nor the tail-blind p95 sizing
    assert seqs >= math.ceil(first.evidence["slo_concurrency"])  # type: ignore[arg-type]
    context = context_of(snapshot)
    assert seqs >= safe_max_num_seqs(context.kv_capacity_tokens, profile.context_p95_tokens)
    # the window is left alone: lowering it frees no KV memory and would refuse longer requests
    assert flag_value(args, "--max-model-len") == flag_value(snapshot.deployment.args, "--max-model-len")  # type: ignore[union-attr]
    assert scale.params["replicas"] == "5"
    assert first.monthly_cost_increase_usd > 0


def test_a_calm_workload_behind_a_prefix_aware_gateway_gets_a_kv_tiering_plan_from_its_own_trace(
    profile: PrefixCacheProfile,
) -> None:
    snapshot = _routed(
        kube_snapshot(replicas=4, mean_rps=6.0, amplitude_rps=3.0).model_copy(
            update={"prefix_cache": profile}
        ),
        RequestRouting.PREFIX_AWARE,
    )
    result = analyze_resource(snapshot)
    assert [p.type for p in result.proposals] == [RecommendationType.KV_TIERING], result.notes
    plan = result.proposals[0]
    # the plan removes no replica itself: what it would free is evidence for a later scan, not a saving
    assert plan.estimated_monthly_savings_usd == 0.0
    assert plan.projected_monthly_cost_usd == plan.current_monthly_cost_usd
    assert plan.evidence["potential_monthly_savings_usd"] >= 0.0
    gpu_only, tiered = plan.evidence["hit_rate_gpu_only"], plan.evidence["hit_rate_with_host_tier"]
    assert isinstance(gpu_only, float) and isinstance(tiered, float)
    assert gpu_only + 0.03 <= tiered <= profile.unlimited_hit_rate
    # A host hit saves its prefill less the copy back: worth a little less than a GPU hit.
    effective = plan.evidence["effective_hit_rate_with_host_tier"]
    assert isinstance(effective, float) and gpu_only < effective < tiered
    assert float(plan.evidence["block_load_ms"]) < float(plan.evidence["block_prefill_ms"])
    assert plan.evidence["capacity_rps_after"] > plan.evidence["capacity_rps_before"]  # type: ignore[operator]
    args = json.loads(plan.steps[0].params["args"])
    assert flag_value(args, "--distributed-executor-backend") == "uni"  # one process shares the store
    config = json.loads(flag_value(args, "--kv-transfer-config") or "{}")
    assert config["kv_connector"] == "OffloadingConnector"
    extra = config["kv_connector_extra_config"]
    assert extra["spec_module_path"] == "kvtier.vllm.spec" and extra["host_blocks"] > 0
    # The spec accepts what the plan writes.
    parsed = parse_extra_config(extra)
    assert (
        parsed.host_blocks == extra["host_blocks"]
        and parsed.tier_policy("host") == plan.evidence["host_policy"]
    )
    # Replayed over another replica count, the curves do not hold for this Deployment.
    pooled = profile.model_copy(
        update={"replicas": 1, "routed_hit_rates": {}, "routed_unlimited_hit_rates": {}}
    )
    stale = analyze_resource(snapshot.model_copy(update={"prefix_cache": pooled}))
    assert not stale.proposals
    assert any("replayed over 1 cache(s)" in note for note in stale.notes)
    # Without a trace there is no what-if to plan on, and the agent says so.
    bare = analyze_resource(kube_snapshot(replicas=4, mean_rps=6.0, amplitude_rps=3.0))
    assert not bare.proposals
    assert any("no prefix trace" in note for note in bare.notes)


@pytest.mark.parametrize("routing", [RequestRouting.ROUND_ROBIN, RequestRouting.LEAST_REQUEST])
def test_behind_a_plain_service_the_plan_asks_for_prefix_aware_routing_first(
    profile: PrefixCacheProfile, routing: RequestRouting
) -> None:
    """Spread without prefix affinity, each replica's cache sees a slice of every conversation: the host
    tier gains under 3 points there, and the plan says the gain needs prefix-aware routing first."""
    snapshot = _routed(
        kube_snapshot(replicas=4, mean_rps=6.0, amplitude_rps=3.0).model_copy(
            update={"prefix_cache": profile}
        ),
        routing,
    )
    result = analyze_resource(snapshot)
    (advice,) = result.proposals
    assert advice.type is RecommendationType.KV_TIERING and advice.steps == []
    assert advice.evidence["needs_routing"] == "prefix_aware"
    here = float(advice.evidence["effective_hit_rate_with_host_tier"])
    there = float(advice.evidence["hit_rate_prefix_aware_with_host_tier"])
    assert (
        here - float(advice.evidence["hit_rate_gpu_only"])
        < 0.03
        <= there - float(advice.evidence["hit_rate_gpu_only"])
    )
    assert advice.estimated_monthly_savings_usd == 0.0 and "prefix-aware gateway" in advice.reasoning


def _asked_for(tokens: int) -> AgentRequest:
    return AgentRequest(
        kind=AgentRequestKind.ADD_KV_CAPACITY,
        from_agent=AgentKind.APPLICATION,
        reason="its requests need longer contexts",
        context_tokens=tokens,
    )


def test_the_engines_own_kv_cache_size_decides_over_the_capacity_models() -> None:
    """The capacity model's budget says one L40S replica holds enough for a 16k window; the engines report
    a smaller cache (a lower --gpu-memory-utilization in the image, say): the agent goes by the report."""
    snapshot = kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0, args=_ARGS_8K)
    modelled = context_of(snapshot)
    assert modelled.measured_kv_tokens is None and modelled.kv_capacity_tokens > 16_384
    proposal = analyze_context_request(modelled, _asked_for(16_384))
    assert not isinstance(proposal, str), proposal
    assert "by the capacity model's memory budget" in proposal.reasoning

    reported = snapshot.model_copy(
        update={"windows": [w.model_copy(update={"kv_capacity_tokens": 12_000.0}) for w in snapshot.windows]}
    )
    measured = context_of(reported)
    assert measured.kv_capacity_tokens == 12_000
    refused = analyze_context_request(measured, _asked_for(16_384))
    assert isinstance(refused, str)
    assert "holds only 12,000 tokens (as its vLLM reports it (cache_config_info))" in refused


_ARGS_8K = ["--model", MODEL, "--max-num-seqs", "256", "--max-model-len", "8192"]


def _oom_killed(snapshot: WorkloadSnapshot) -> WorkloadSnapshot:
    assert snapshot.deployment is not None
    pods = snapshot.deployment.pods
    killed = pods[0].model_copy(update={"restarts": 2, "last_termination_reason": "OOMKilled"})
    deployment = snapshot.deployment.model_copy(update={"pods": [killed, *pods[1:]]})
    return snapshot.model_copy(update={"deployment": deployment})


def test_a_host_memory_kill_is_answered_on_the_host_not_with_gpu_kv_settings(
    profile: PrefixCacheProfile,
) -> None:
    """OOMKilled is the kernel reclaiming host RAM: no --max-num-seqs cut, no new host tier; without a
    tier the advice is the container's memory, with kvtier's host tier it is halved."""
    calm = _oom_killed(
        _routed(
            kube_snapshot(replicas=4, mean_rps=6.0, amplitude_rps=3.0).model_copy(
                update={"prefix_cache": profile}
            ),
            RequestRouting.PREFIX_AWARE,
        )
    )
    result = analyze_resource(calm)
    (advice,) = result.proposals
    assert advice.type is RecommendationType.OOM_PREVENTION and advice.steps == []
    assert "host RAM, not GPU memory" in advice.reasoning and advice.evidence["oom_killed_pods"] == 1.0
    assert any("killed for host memory, which a host tier would take more of" in n for n in result.notes)

    assert calm.deployment is not None
    tier = json.dumps(
        {
            "kv_connector": "OffloadingConnector",
            "kv_role": "kv_both",
            "kv_connector_extra_config": {
                "spec_name": "KvtierOffloadingSpec",
                "host_blocks": 400,
                "block_size": 256,
            },
        }
    )
    args = [*calm.deployment.args, "--distributed-executor-backend", "uni", "--kv-transfer-config", tier]
    tiered = calm.model_copy(update={"deployment": calm.deployment.model_copy(update={"args": args})})
    (shrink,) = analyze_resource(tiered).proposals
    assert shrink.evidence["host_blocks_before"] == 400.0 and shrink.evidence["host_blocks_after"] == 200.0
    (step,) = shrink.steps
    rolled = json.loads(flag_value(json.loads(step.params["args"]), "--kv-transfer-config") or "{}")
    assert rolled["kv_connector_extra_config"]["host_blocks"] == 200
    assert flag_value(json.loads(step.params["args"]), "--max-num-seqs") == flag_value(
        calm.deployment.args, "--max-num-seqs"
    )
