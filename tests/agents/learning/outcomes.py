"""Builders for learning tests: a workload's context from a real snapshot (priced from the bundled
catalog), spot proposals on it, and the outcomes of such proposals as the workflow would record them."""

import functools
from datetime import UTC, datetime, timedelta

from agents.learning.confidence import learned_outcome
from optiinfra.domain.enums import RecommendationStatus
from optiinfra.domain.learning import LearnedOutcome
from optiinfra.domain.recommendation import Proposal, Recommendation
from optiinfra.domain.regression import RegressionVerdict, ServingHealth
from optiinfra.learning.features import workload_context
from tests.agents.reasoning.proposals import spot_proposal
from tests.agents.snapshots import snapshot

RECORDED_AT = datetime(2026, 10, 1, tzinfo=UTC)


def batch_context(*, gpu: float = 60.0, gpu_memory: float = 70.0, count: int = 2) -> dict[str, float]:
    """Two g5.12xlarge replicas of a batch workload, on-demand: where `spot_proposal` applies."""
    return dict(_batch_context(gpu, gpu_memory, count))


@functools.cache
def _batch_context(gpu: float, gpu_memory: float, count: int) -> tuple[tuple[str, float], ...]:
    context = workload_context(
        snapshot(instance_type="g5.12xlarge", count=count, gpu=gpu, gpu_memory=gpu_memory)
    )
    return tuple(context.items())


def other_context() -> dict[str, float]:
    """A workload unlike `batch_context`: eight small single-GPU replicas, half on spot, lightly used."""
    context = workload_context(snapshot(instance_type="g6.xlarge", count=8, gpu=20.0, gpu_memory=25.0))
    return context | {"spot_share": 0.5}


def recommendation(
    proposal: Proposal, recommendation_id: str, *, customer_id: str = "acme", workload_id: str = "chat"
) -> Recommendation:
    return Recommendation(
        **proposal.model_dump(),
        recommendation_id=recommendation_id,
        workflow_id=f"opt/{customer_id}/{workload_id}/cost/1",
        customer_id=customer_id,
        workload_id=workload_id,
        status=RecommendationStatus.PENDING_APPROVAL,
        created_at=RECORDED_AT - timedelta(days=1),
    )


def health(
    *, ttft_p99: float | None = 1.0, e2e_p99: float | None = 8.0, error_rate: float | None = 0.002
) -> ServingHealth:
    return ServingHealth(
        customer_id="acme",
        workload_id="chat",
        since=RECORDED_AT - timedelta(hours=2),
        until=RECORDED_AT,
        windows=12,
        requests=5000.0,
        ttft_p99_s=ttft_p99,
        e2e_p99_s=e2e_p99,
        error_rate=error_rate,
    )


def verdict(*, regressed: bool, baseline: ServingHealth, current: ServingHealth) -> RegressionVerdict:
    return RegressionVerdict(
        regressed=regressed,
        baseline=baseline,
        current=current,
        summary="p99 TTFT grew past its limit" if regressed else "no regression",
    )


def outcome(
    recommendation_id: str,
    status: RecommendationStatus,
    *,
    context: dict[str, float] | None = None,
    regressed: bool = False,
    customer_id: str = "acme",
    proposal: Proposal | None = None,
) -> LearnedOutcome:
    """A spot proposal on the batch workload that ended in `status` (a regressed verdict if asked)."""
    found = (
        verdict(regressed=True, baseline=health(), current=health(ttft_p99=1.6))
        if regressed
        else verdict(regressed=False, baseline=health(), current=health(ttft_p99=1.05))
    )
    return learned_outcome(
        recommendation(proposal or spot_proposal(), recommendation_id, customer_id=customer_id),
        status=status,
        context=batch_context() if context is None else context,
        verdict=found,
        recorded_at=RECORDED_AT,
    )
