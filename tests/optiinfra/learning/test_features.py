"""A workload's context read from real snapshots (instances priced from the bundled catalog, a Kubernetes
Deployment with its latency windows), and the structured vector: fixed length, deterministic, slots where
the layout says, and similar workloads close while different ones are not."""

import math

import pytest

from agents.learning.confidence import learned_outcome
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import AgentKind, PurchaseOption, RecommendationStatus, RecommendationType
from optiinfra.learning.features import (
    CONTEXT_FEATURES,
    ONE_HOT,
    VECTOR_DIMENSION,
    ProposalFigures,
    learned_vector,
    outcome_vector,
    proposal_vector,
    workload_context,
)
from tests.agents.learning.outcomes import RECORDED_AT, batch_context, other_context, recommendation
from tests.agents.performance.snapshots import kube_snapshot
from tests.agents.reasoning.proposals import spot_proposal
from tests.agents.snapshots import snapshot

CATALOG = PriceCatalog.load_default()
FIGURES = ProposalFigures(monthly_savings_usd=1000.0, current_monthly_cost_usd=4000.0, risk_rank=1)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def test_context_of_a_workload_on_instances_of_its_own() -> None:
    found = snapshot(instance_type="g5.12xlarge", count=3, gpu=60.0, gpu_memory=70.0)
    found.instances[2].lifecycle = PurchaseOption.SPOT
    context = workload_context(found)
    g5 = CATALOG.get("g5.12xlarge", "us-east-1")
    assert context["replicas"] == 3.0
    assert context["hourly_cost_usd"] == pytest.approx(
        2 * g5.on_demand_hourly_usd + (g5.spot_hourly_usd or 0)
    )
    assert context["spot_share"] == pytest.approx(1 / 3)
    assert (context["gpu_memory_per_gpu_gib"], context["gpus_per_replica"]) == (24.0, 4.0)
    # the daily cycle swings between 24% and 60%: mean 42%, p95 just under the peak
    assert context["gpu_utilization_mean"] == pytest.approx(42.0, abs=0.5)
    assert 57.0 < context["gpu_utilization_p95"] < 60.0
    assert 66.0 < context["gpu_memory_utilization_p95"] < 70.0
    assert (context["on_kubernetes"], context["stateless"], context["critical"]) == (0.0, 1.0, 0.0)
    # no latency windows: nothing about serving is made up
    assert not {"request_rate", "ttft_p95_s", "ttft_slo_ratio", "kv_usage_max", "error_rate"} & context.keys()


def test_stopped_instances_are_not_replicas() -> None:
    found = snapshot(instance_type="g5.xlarge", count=4, gpu=50.0, gpu_memory=50.0)
    found.instances[0].state = "stopped"
    context = workload_context(found)
    assert context["replicas"] == 3.0
    assert context["hourly_cost_usd"] == pytest.approx(
        3 * CATALOG.get("g5.xlarge", "us-east-1").on_demand_hourly_usd
    )


def test_context_of_a_workload_served_by_a_deployment() -> None:
    found = kube_snapshot(replicas=4, mean_rps=6.0, amplitude_rps=2.0)
    context = workload_context(found)
    g6e = CATALOG.get("g6e.xlarge", "us-east-1")
    assert context["replicas"] == 4.0
    assert context["on_kubernetes"] == 1.0
    assert context["hourly_cost_usd"] == pytest.approx(4 * g6e.on_demand_hourly_usd)
    assert (context["gpus_per_replica"], context["gpu_memory_per_gpu_gib"]) == (1.0, 48.0)
    assert context["request_rate"] == pytest.approx(6.0, rel=0.05)  # a day of a cycle around 6/s
    assert context["ttft_slo_ratio"] == pytest.approx(context["ttft_p95_s"] / 3.0)
    assert context["error_rate"] == 0.0
    # no instances of its own, no utilization series
    assert not {"spot_share", "gpu_utilization_mean", "gpu_utilization_p95"} & context.keys()


def test_the_vector_has_one_fixed_length_whatever_it_is_given() -> None:
    assert VECTOR_DIMENSION == 54
    contexts = [{}, batch_context(), other_context(), {"replicas": 1e9, "unknown": 3.0, "kv_usage_max": -5.0}]
    for agent in AgentKind:
        for kind in RecommendationType:
            for context in contexts:
                vector = outcome_vector(agent, kind, context, FIGURES)
                assert len(vector) == VECTOR_DIMENSION
                assert all(math.isfinite(x) and -1.0 <= x <= 1.0 for x in vector)


def test_the_vector_is_deterministic_and_reads_the_slots_the_layout_says() -> None:
    context = {"replicas": 8.0, "gpu_utilization_mean": 100.0, "spot_share": 0.0, "critical": 1.0}
    vector = outcome_vector(AgentKind.COST, RecommendationType.RIGHT_SIZING, context, FIGURES)
    assert vector == outcome_vector(AgentKind.COST, RecommendationType.RIGHT_SIZING, dict(context), FIGURES)
    assert vector[:4] == [ONE_HOT, 0.0, 0.0, 0.0]
    assert vector[4:16] == [ONE_HOT if i == 1 else 0.0 for i in range(12)]  # right sizing is the second type
    assert vector[16:18] == pytest.approx([0.0, 1.0])  # 8 replicas: halfway on a log scale of 1-64
    assert vector[18:24] == [0.0] * 6  # GPU memory, GPUs per replica and cost are not known
    assert vector[24:26] == pytest.approx([-1.0, 0.0])  # 100% utilization: the far end
    assert vector[38:40] == pytest.approx([1.0, 0.0])  # no spot: the near end
    assert vector[44:46] == pytest.approx([-0.5, 0.0])  # critical: a flag, at half weight
    assert vector[46:48] == pytest.approx([math.cos(0.25 * math.pi), math.sin(0.25 * math.pi)])  # saves 25%
    assert vector[52:54] == pytest.approx([0.0, 1.0])  # medium risk
    # each context feature owns exactly its pair of slots
    for index, feature in enumerate(CONTEXT_FEATURES):
        alone = outcome_vector(AgentKind.COST, RecommendationType.RIGHT_SIZING, {feature.name: 0.0}, FIGURES)
        empty = outcome_vector(AgentKind.COST, RecommendationType.RIGHT_SIZING, {}, FIGURES)
        changed = [i for i, (a, b) in enumerate(zip(alone, empty, strict=True)) if a != b]
        assert changed and set(changed) <= {16 + 2 * index, 17 + 2 * index}
    assert outcome_vector(AgentKind.COST, RecommendationType.RIGHT_SIZING, {"replicas": math.nan}, FIGURES)[
        16:18
    ] == [0.0, 0.0]


def test_a_recorded_outcome_has_the_vector_its_proposal_had() -> None:
    proposal = spot_proposal()
    context = batch_context()
    learned = learned_outcome(
        recommendation(proposal, "rec-1"),
        status=RecommendationStatus.EXECUTED,
        context=context,
        verdict=None,
        recorded_at=RECORDED_AT,
    )
    assert learned_vector(learned) == proposal_vector(proposal, context)


def test_the_same_workload_measured_again_is_similar_and_another_kind_of_workload_is_not() -> None:
    proposal = spot_proposal()
    base = proposal_vector(proposal, batch_context())
    assert cosine(base, proposal_vector(proposal, batch_context(gpu=65.0, gpu_memory=72.0))) > 0.97
    assert cosine(base, proposal_vector(proposal, batch_context(count=3))) > 0.97
    assert cosine(base, proposal_vector(proposal, other_context())) < 0.8
    assert cosine(base, proposal_vector(spot_proposal(savings=150.0), other_context())) < 0.7
    # a vector is never closer to another than to itself
    assert cosine(base, base) == pytest.approx(1.0)
