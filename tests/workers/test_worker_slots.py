"""How many workflow tasks and activities the workers run at once, as configured."""

import pytest
from pydantic import ValidationError

from optiinfra.settings import Settings
from workers.all_in_one import WorkerSlots
from workers.group import WORKFLOW_TASK_SLOTS
from workflows.task_queues import WorkKind


def test_the_workflow_task_slots_default_to_a_few_and_follow_the_setting() -> None:
    assert Settings().worker_workflow_task_slots == WORKFLOW_TASK_SLOTS
    assert WorkerSlots().workflow_tasks == WORKFLOW_TASK_SLOTS
    slots = WorkerSlots.from_settings(Settings(worker_workflow_task_slots=3, worker_analysis_slots=1))
    assert slots.workflow_tasks == 3
    assert slots.of(WorkKind.ANALYSIS) == 1


@pytest.mark.parametrize("slots", [0, 1])
def test_fewer_than_two_workflow_task_slots_are_refused(slots: int) -> None:
    with pytest.raises(ValidationError, match="worker_workflow_task_slots"):
        Settings(worker_workflow_task_slots=slots)
