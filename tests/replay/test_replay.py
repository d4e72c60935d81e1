"""Every workflow type's stored history (tests/replay/histories, captured from the embedded stack by
`make replay-histories`) replays against the current workflow code, as a worker replays a run in flight
after an upgrade (an approval may wait days). A copy of a workflow changed incompatibly fails its replay:
the check bites. A change of workflow behaviour ships behind `workflow.patched`, or with a new workflow
type, and the histories are captured again."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.worker import Replayer

from optiinfra.engine.codec import DATA_CONVERTER
from tests.replay.capture import HISTORIES, stored_history, workflow_types
from workers.all_in_one import WORKFLOWS
from workflows.agent_optimization import SNAPSHOT_BY_REFERENCE
from workflows.contracts import ActivityName, MetricsCollectionRequest, MetricsCollectionSummary, WorkloadList

STORED = sorted(HISTORIES.glob("*.json.gz"))
"""`<WorkflowType>.json.gz`, captured from the current code, and `<WorkflowType>.<label>.json.gz`, kept from
before a patched change (`label` names its `workflow.patched` id): runs of both kinds may be in flight."""


def test_every_workflow_type_has_a_stored_history() -> None:
    current = {path.name.removesuffix(".json.gz") for path in STORED if path.name.count(".") == 2}
    assert current == set(workflow_types()), "capture the histories again: make replay-histories"
    assert {path.name.split(".")[0] for path in STORED} == set(workflow_types())


@pytest.mark.parametrize("path", STORED, ids=lambda path: path.name.removesuffix(".json.gz"))
async def test_the_stored_history_replays_on_the_current_code(path: Path) -> None:
    replayer = Replayer(workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(stored_history(path))
    assert result.replay_failure is None


def test_an_optimizations_history_carries_the_snapshot_by_reference() -> None:
    """Before the patch the snapshot crossed the history twice (collected, then analyzed); now its id does."""
    before = _largest_event(HISTORIES / f"AgentOptimizationWorkflow.{SNAPSHOT_BY_REFERENCE}.json.gz")
    after = _largest_event(HISTORIES / "AgentOptimizationWorkflow.json.gz")
    assert before > 100_000 and after < 8_000, (before, after)


def _largest_event(path: Path) -> int:
    return max(len(json.dumps(event)) for event in stored_history(path).to_json_dict()["events"])


@workflow.defn(name="MetricsCollectionWorkflow", sandboxed=False)
class CollectionThatWaitsFirst:
    """MetricsCollectionWorkflow changed without a patch: it waits before listing the workloads."""

    @workflow.run
    async def run(self, request: MetricsCollectionRequest) -> MetricsCollectionSummary:
        await workflow.sleep(timedelta(seconds=1))
        listed: WorkloadList = await workflow.execute_activity(
            ActivityName.LIST_WORKLOADS,
            result_type=WorkloadList,
            start_to_close_timeout=timedelta(seconds=request.activity_timeout_seconds),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )
        return MetricsCollectionSummary(workloads=len(listed.workloads), utilization_rows=0, window_rows=0)


async def test_an_incompatible_change_fails_the_replay() -> None:
    replayer = Replayer(workflows=[CollectionThatWaitsFirst], data_converter=DATA_CONVERTER)
    with pytest.raises(workflow.NondeterminismError):
        await replayer.replay_workflow(stored_history(HISTORIES / "MetricsCollectionWorkflow.json.gz"))
