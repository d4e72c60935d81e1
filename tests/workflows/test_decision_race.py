"""One decision wins: `decide` goes through the workflow's `decide` update, whose validator (and handler)
refuse every decision after the first, so concurrent callers learn at once who won; a late signal is
refused and kept in the status; the store's audit has the winner once and every refused attempt."""

import asyncio
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.worker import Replayer

from optiinfra.control.optimizations import DecisionConflictError, decide
from optiinfra.domain.enums import DecisionKind, RecommendationStatus
from optiinfra.domain.recommendation import Approval, Recommendation
from optiinfra.store import repository
from optiinfra.store.repository import AuditEntry
from tests.workflows.conftest import Harness, wait_for_phase, wait_for_status
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import OptimizationStatus, WorkflowPhase

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

DECIDED = {DecisionKind.APPROVE: "approved", DecisionKind.REJECT: "rejected"}


async def _pending(harness: Harness, **overrides: Any) -> tuple[WorkflowHandle[Any, OptimizationStatus], str]:
    """A cost run of code-assist (a spot migration: a person decides), waiting for the decision."""
    handle = await harness.start("code-assist", **overrides)
    waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    assert waiting.recommendation is not None
    return handle, waiting.recommendation.recommendation_id


async def _decide_all(
    harness: Harness, recommendation_id: str, decisions: list[tuple[DecisionKind, str]]
) -> list[Recommendation | BaseException]:
    """Every (decision, approver) at once, each outcome in the same order."""
    return await asyncio.gather(
        *(
            decide(
                client=harness.client,
                sessions=harness.sessions,
                recommendation_id=recommendation_id,
                decision=decision,
                approver=approver,
                reason=f"{approver} says {decision.value}",
                note=f"note of {approver}",
            )
            for decision, approver in decisions
        ),
        return_exceptions=True,
    )


def _one_winner(
    decisions: list[tuple[DecisionKind, str]], outcomes: list[Recommendation | BaseException]
) -> tuple[tuple[DecisionKind, str], list[DecisionConflictError]]:
    won = [d for d, o in zip(decisions, outcomes, strict=True) if isinstance(o, Recommendation)]
    refused = [o for o in outcomes if isinstance(o, DecisionConflictError)]
    assert len(won) == 1, outcomes
    assert len(refused) == len(decisions) - 1, [o for o in outcomes if not isinstance(o, Recommendation)]
    (winner,) = won
    decision, approver = winner
    for error in refused:  # each loser is told who won, what, and when
        assert error.winner is not None
        assert (error.winner.decision, error.winner.approver) == winner
        assert error.winner.decided_at is not None
        assert f"already {DECIDED[decision]} by {approver} (note of {approver}) at " in str(error)
    return winner, refused


async def _audit(harness: Harness, recommendation_id: str) -> list[AuditEntry]:
    async with harness.sessions() as session:
        return await repository.list_audit(session=session, subject=recommendation_id)


def _decision_rows(audit: list[AuditEntry]) -> list[AuditEntry]:
    """The decisions the workflow took, as its status changes audit them."""
    return [a for a in audit if a.detail.get("outcome") == "accepted"]


async def _history_counts(
    harness: Harness, handle: WorkflowHandle[Any, OptimizationStatus]
) -> dict[str, int]:
    """Updates accepted, updates that succeeded and signals in the run's history, which must replay."""
    history = await handle.fetch_history()
    counted = {"accepted": 0, "succeeded": 0, "signals": 0}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            counted["accepted"] += 1
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            outcome = event.workflow_execution_update_completed_event_attributes.outcome
            counted["succeeded"] += outcome.HasField("success")
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            counted["signals"] += 1
    # The run's history replays with this code (the update and its refusals are deterministic).
    replayer = Replayer(workflows=[AgentOptimizationWorkflow], data_converter=harness.client.data_converter)
    await replayer.replay_workflow(history)
    return counted


async def test_one_of_fifty_concurrent_approvals_wins_a_late_signal_and_a_closed_run_are_refused(
    harness: Harness,
) -> None:
    # Verified 8 s after it executes: the run is still open when the late signal below is sent.
    handle, recommendation_id = await _pending(harness, verify_delay_seconds=8)
    decisions = [(DecisionKind.APPROVE, f"approver-{i:02d}") for i in range(50)]

    outcomes = await _decide_all(harness, recommendation_id, decisions)

    (_, winner), refused = _one_winner(decisions, outcomes)
    # A reject signal (as `temporal workflow signal` sends it) while the approved change runs: refused,
    # and kept in the status for the person reading the run.
    await handle.signal(
        AgentOptimizationWorkflow.reject, Approval(decision=DecisionKind.REJECT, approver="late", reason="no")
    )
    running = await wait_for_status(
        handle, lambda s: any(r.via == "signal" for r in s.refused_decisions), "the refused signal"
    )
    (late,) = [r for r in running.refused_decisions if r.via == "signal"]
    assert (late.approval.approver, late.approval.decision) == ("late", DecisionKind.REJECT)
    assert late.refusal.startswith(f"already approved by {winner} (note of {winner}) at ")

    status = await handle.result()
    assert status.phase is WorkflowPhase.EXECUTED
    assert status.approval is not None and status.approval.approver == winner
    assert status.approval.note == f"note of {winner}"
    events = await _history_counts(harness, handle)
    # Updates refused by the validator leave no event; those that passed it before the winner's handler
    # ran are refused by their handler, and listed in the status.
    lost_in_handler = [r for r in status.refused_decisions if r.via == "update"]
    assert events == {"accepted": 1 + len(lost_in_handler), "succeeded": 1, "signals": 1}

    # The workflow has closed: a decision now is refused, naming the one that won (from the store).
    with pytest.raises(DecisionConflictError, match="closed: it is executed, not pending_approval") as closed:
        await decide(
            client=harness.client,
            sessions=harness.sessions,
            recommendation_id=recommendation_id,
            decision=DecisionKind.REJECT,
            approver="too-late",
            reason="changed my mind",
        )
    assert closed.value.winner is not None and closed.value.winner.approver == winner
    assert f"already approved by {winner}" in str(closed.value)

    audit = await _audit(harness, recommendation_id)
    actions = [a.action for a in audit]
    (accepted,) = _decision_rows(audit)
    assert (accepted.actor, accepted.action) == (winner, "recommendation.approved")
    assert accepted.detail["note"] == f"note of {winner}"
    assert accepted.detail["workflow_id"] == handle.id
    refused_rows = [a for a in audit if a.action == "recommendation.approve_refused"]
    assert sorted(a.actor for a in refused_rows) == sorted(a for _, a in decisions if a != winner)
    assert all(a.detail["outcome"] == "refused" and winner in a.detail["why"] for a in refused_rows)
    assert [(a.actor, a.action) for a in audit if a.action == "recommendation.reject_refused"] == [
        ("too-late", "recommendation.reject_refused")
    ]
    assert actions.count("recommendation.executing") == 1
    assert actions.count("recommendation.executed") == 1
    assert "recommendation.rejected" not in actions
    assert len(refused) == 49


async def test_approvals_racing_rejections_one_wins_and_the_recommendation_ends_by_it(
    harness: Harness,
) -> None:
    handle, recommendation_id = await _pending(harness)
    decisions = [
        (kind, f"{kind.value}-{i:02d}")
        for i in range(25)
        for kind in (DecisionKind.APPROVE, DecisionKind.REJECT)
    ]

    outcomes = await _decide_all(harness, recommendation_id, decisions)

    (decision, winner), refused = _one_winner(decisions, outcomes)
    status = await handle.result()
    assert status.approval is not None
    assert (status.approval.decision, status.approval.approver) == (decision, winner)
    final = (
        RecommendationStatus.REJECTED if decision is DecisionKind.REJECT else RecommendationStatus.EXECUTED
    )
    assert status.phase.value == final.value
    async with harness.sessions() as session:
        record = await repository.get_recommendation_record(
            session=session, recommendation_id=recommendation_id
        )
    assert record is not None
    assert record.recommendation.status is final
    assert record.approval is not None
    assert (record.approval.decision, record.approval.approver) == (decision, winner)

    audit = await _audit(harness, recommendation_id)
    (accepted,) = _decision_rows(audit)
    assert (accepted.actor, accepted.action) == (winner, f"recommendation.{DECIDED[decision]}")
    losing = {
        "recommendation.approve_refused": sum(k is DecisionKind.APPROVE for k, a in decisions if a != winner),
        "recommendation.reject_refused": sum(k is DecisionKind.REJECT for k, a in decisions if a != winner),
    }
    assert {action: [a.action for a in audit].count(action) for action in losing} == losing
    other = "recommendation.rejected" if decision is DecisionKind.APPROVE else "recommendation.approved"
    assert other not in [a.action for a in audit]
    assert len(refused) == 49
