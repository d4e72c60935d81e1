"""A decision Temporal refuses for having too many updates of the workflow in flight is sent again; any
other refusal is not."""

from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from optiinfra.control.optimizations import _execute_decide
from optiinfra.domain.enums import DecisionKind
from optiinfra.domain.recommendation import Approval

APPROVAL = Approval(decision=DecisionKind.APPROVE, approver="ana", reason="fine")


class BusyHandle:
    """Refuses the first `busy` updates with `status`, then takes one."""

    def __init__(self, busy: int, status: RPCStatusCode = RPCStatusCode.RESOURCE_EXHAUSTED) -> None:
        self.busy = busy
        self.status = status
        self.sent: list[Any] = []

    async def execute_update(self, update: Any, arg: Any) -> None:
        self.sent.append(arg)
        if len(self.sent) <= self.busy:
            raise RPCError(
                "limit on number of concurrent in-flight updates has been reached (10)", self.status, b""
            )


async def test_a_busy_workflow_gets_the_decision_once_the_rush_passes() -> None:
    handle = BusyHandle(busy=3)
    await _execute_decide(handle, APPROVAL)  # type: ignore[arg-type]
    assert handle.sent == [APPROVAL] * 4


async def test_another_refusal_is_not_sent_again() -> None:
    handle = BusyHandle(busy=1, status=RPCStatusCode.NOT_FOUND)
    with pytest.raises(RPCError):
        await _execute_decide(handle, APPROVAL)  # type: ignore[arg-type]
    assert len(handle.sent) == 1
