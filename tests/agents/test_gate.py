import pytest

from agents.gate import decide_gate
from optiinfra.domain.enums import OperatingMode, RiskLevel
from optiinfra.domain.fleet import AutomationPolicy


def policy(mode: OperatingMode) -> AutomationPolicy:
    return AutomationPolicy(
        operating_mode=mode, auto_execute_min_confidence=0.8, auto_execute_max_risk=RiskLevel.LOW
    )


@pytest.mark.parametrize(
    ("mode", "risk", "confidence", "needs_approval"),
    [
        (OperatingMode.ADVISORY, RiskLevel.LOW, 0.99, True),
        (OperatingMode.SEMI_AUTONOMOUS, RiskLevel.LOW, 0.9, False),
        (OperatingMode.SEMI_AUTONOMOUS, RiskLevel.LOW, 0.5, True),
        (OperatingMode.SEMI_AUTONOMOUS, RiskLevel.MEDIUM, 0.95, True),
        (OperatingMode.AUTONOMOUS, RiskLevel.MEDIUM, 0.95, False),
        (OperatingMode.AUTONOMOUS, RiskLevel.MEDIUM, 0.5, True),
        (OperatingMode.AUTONOMOUS, RiskLevel.HIGH, 0.99, True),
    ],
)
def test_gate(mode: OperatingMode, risk: RiskLevel, confidence: float, needs_approval: bool) -> None:
    decision = decide_gate(policy(mode), confidence=confidence, risk=risk)
    assert decision.needs_approval is needs_approval
    assert decision.reason
