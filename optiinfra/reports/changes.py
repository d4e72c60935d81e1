"""Executed recommendations as the savings report reads them: when each change took effect, what it was
estimated to save, and which instances its steps named."""

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from optiinfra.domain.enums import RecommendationType
from optiinfra.store.repository import RecommendationRecord


class ExecutedChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    recommendation_id: str
    customer_id: str
    workload_id: str
    type: RecommendationType
    title: str
    executed_at: datetime
    estimated_monthly_savings_usd: float
    resources: tuple[str, ...] = ()
    """Step targets and the resources steps made (instance ids among them): instances of the workload even
    when no window of theirs names them."""


def executed_changes(records: Iterable[RecommendationRecord]) -> list[ExecutedChange]:
    """The changes among executed recommendations, by the time they took effect (the outcome's finish).
    An executed recommendation without steps is advice its application's owners apply themselves: OptiInfra
    changed nothing, so it is not a change here (as regression defense never counts it either)."""
    found = [_change(record) for record in records if record.recommendation.steps]
    return sorted(found, key=lambda change: (change.executed_at, change.recommendation_id))


def _change(record: RecommendationRecord) -> ExecutedChange:
    recommendation, outcome = record.recommendation, record.outcome
    resources = {step.target for step in recommendation.steps}
    if outcome is not None:
        for result in outcome.step_results:
            resources.add(result.target)
            resources.update(result.resource_ids)
    return ExecutedChange(
        recommendation_id=recommendation.recommendation_id,
        customer_id=recommendation.customer_id,
        workload_id=recommendation.workload_id,
        type=recommendation.type,
        title=recommendation.title,
        executed_at=outcome.finished_at if outcome is not None else record.updated_at,
        estimated_monthly_savings_usd=(
            outcome.estimated_monthly_savings_usd
            if outcome is not None
            else recommendation.estimated_monthly_savings_usd
        ),
        resources=tuple(sorted(resources)),
    )
