"""Reserved capacity end to end: the steady rag-embed replicas are reserved only with a person's approval,
whatever the customer's operating mode, and a failed purchase buys nothing."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from optiinfra.cloud.reservations import ReservedCapacity
from optiinfra.domain.enums import (
    DecisionKind,
    OperatingMode,
    RecommendationStatus,
    RecommendationType,
    RiskLevel,
)
from optiinfra.domain.fleet import AutomationPolicy
from optiinfra.domain.recommendation import Approval
from optiinfra.store import repository
from tests.workflows.conftest import CUSTOMER, Harness, wait_for_phase
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def all_reservations(harness: Harness) -> list[str]:
    response = harness.fleet.ec2.describe_reserved_instances()
    return [r["ReservedInstancesId"] for r in response["ReservedInstances"]]


async def make_fully_autonomous(harness: Harness) -> None:
    async with harness.sessions() as session:
        customer = await repository.get_customer(session=session, customer_id=CUSTOMER)
        assert customer is not None
        trusting = AutomationPolicy(
            operating_mode=OperatingMode.AUTONOMOUS,
            auto_execute_min_confidence=0.0,
            auto_execute_max_risk=RiskLevel.HIGH,
        )
        await repository.upsert_customer(
            session=session, customer=customer.model_copy(update={"automation": trusting})
        )
        await session.commit()


async def test_a_reservation_waits_for_a_person_even_in_autonomous_mode(harness: Harness) -> None:
    await make_fully_autonomous(harness)
    status = await (await harness.start("rag-embed", approval_timeout_seconds=3)).result()

    assert status.recommendation is not None
    assert status.recommendation.type is RecommendationType.RESERVED_CAPACITY
    assert status.gate_reason is not None and "commit spend" in status.gate_reason
    assert status.phase is WorkflowPhase.EXPIRED
    assert status.step_results == []
    assert await all_reservations(harness) == []


async def test_an_approved_reservation_is_bought_once_and_verified(harness: Harness) -> None:
    handle = await harness.start("rag-embed")
    waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    assert waiting.recommendation is not None
    [step] = waiting.recommendation.steps
    await handle.signal(
        AgentOptimizationWorkflow.approve,
        Approval(decision=DecisionKind.APPROVE, approver="finops", reason="steady for a quarter"),
    )
    status = await handle.result()

    assert status.phase is WorkflowPhase.EXECUTED
    reservations = await ReservedCapacity(harness.fleet.ec2).active_for_workload(CUSTOMER, "rag-embed")
    assert [(r.instance_type, r.instance_count) for r in reservations] == [
        (step.params["instance_type"], int(step.params["count"]))
    ]
    assert len(await all_reservations(harness)) == 1
    assert status.step_results[0].resource_ids == [reservations[0].reservation_id]


async def test_a_purchase_that_fails_buys_nothing_and_records_why(harness: Harness) -> None:
    def price_went_up(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "InvalidParameterValue",
                    "Message": "The upfront price exceeds the limit price",
                }
            },
            "PurchaseReservedInstancesOffering",
        )

    harness.fleet.ec2.meta.events.register(
        "before-parameter-build.ec2.PurchaseReservedInstancesOffering", price_went_up
    )
    handle = await harness.start("rag-embed")
    await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="finops")
    )
    status = await handle.result()

    assert status.phase is WorkflowPhase.ROLLED_BACK
    assert status.failure_reason is not None and "limit price" in status.failure_reason
    assert await all_reservations(harness) == []
    assert status.recommendation is not None
    async with harness.sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=status.recommendation.recommendation_id
        )
    assert record is not None and record.recommendation.status is RecommendationStatus.ROLLED_BACK
    assert record.status_reason is not None and "limit price" in record.status_reason
