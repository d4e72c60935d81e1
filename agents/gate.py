"""Whether a recommendation may execute without a person, from the customer's automation policy."""

from pydantic import BaseModel

from optiinfra.domain.enums import OperatingMode, RiskLevel
from optiinfra.domain.fleet import AutomationPolicy


class GateDecision(BaseModel):
    needs_approval: bool
    reason: str


def decide_gate(
    policy: AutomationPolicy, *, confidence: float, risk: RiskLevel, commits_spend: bool = False
) -> GateDecision:
    """`commits_spend`: the recommendation buys a term commitment (reserved capacity), which no operating
    mode or threshold lets run without a person."""
    if commits_spend:
        return GateDecision(
            needs_approval=True, reason="purchases commit spend for a term: a person always approves them"
        )
    mode = policy.operating_mode
    if mode is OperatingMode.ADVISORY:
        return GateDecision(needs_approval=True, reason="customer is in advisory mode")
    if risk is RiskLevel.HIGH:
        return GateDecision(needs_approval=True, reason="high-risk changes always wait for a person")
    if mode is OperatingMode.SEMI_AUTONOMOUS and risk.rank > policy.auto_execute_max_risk.rank:
        return GateDecision(
            needs_approval=True,
            reason=f"{risk.value} risk is above the {policy.auto_execute_max_risk.value} auto-execute limit",
        )
    if confidence < policy.auto_execute_min_confidence:
        return GateDecision(
            needs_approval=True,
            reason=f"confidence {confidence:.2f} is below the {policy.auto_execute_min_confidence:.2f} "
            "auto-execute threshold",
        )
    return GateDecision(
        needs_approval=False, reason=f"{risk.value} risk and confidence {confidence:.2f}: auto-executed"
    )
