"""A proposal's savings are what the change itself takes off the bill."""

import pytest
from pydantic import ValidationError

from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel
from optiinfra.domain.recommendation import Proposal


def _proposal(savings: float, current: float, projected: float) -> Proposal:
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.RIGHT_SIZING,
        title="a change",
        reasoning="-",
        estimated_monthly_savings_usd=savings,
        current_monthly_cost_usd=current,
        projected_monthly_cost_usd=projected,
        confidence=0.8,
        risk_level=RiskLevel.LOW,
        steps=[],
    )


def test_savings_agree_with_the_costs_or_the_proposal_is_refused() -> None:
    assert _proposal(1_000.0, 5_000.0, 4_000.0).estimated_monthly_savings_usd == 1_000.0
    assert _proposal(0.0, 5_000.0, 7_000.0).monthly_cost_increase_usd == 2_000.0  # costs more: no saving
    assert _proposal(-2_000.0, 5_000.0, 7_000.0).monthly_cost_increase_usd == 2_000.0  # or a negative one
    with pytest.raises(ValidationError, match="disagree with its costs"):
        _proposal(1_358.0, 5_000.0, 5_000.0)  # a saving the change does not make
    with pytest.raises(ValidationError, match="disagree with its costs"):
        _proposal(0.0, 5_000.0, 4_000.0)
