"""`optiinfra run` shows what it does as it goes: each workload's team as the run polls it (proposing,
resolving, then the first change's own phases until it settles), told once per change, and shown on stderr
as a live display on a terminal or one line per change otherwise."""

import io
from collections.abc import Iterator
from typing import Any, cast

from rich.console import Console

from optiinfra.cli.api_client import ApiClient
from optiinfra.cli.progress import LineProgress, LiveProgress, NoProgress, progress_on_stderr
from optiinfra.cli.run_once import WorkloadProgress, describe, settle_joint
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.recommendation import Proposal
from tests.optiinfra.store import factories
from workflows.contracts import (
    AgentProposals,
    ChildExecution,
    JointPhase,
    JointStatus,
    OptimizationStatus,
    WorkflowPhase,
)

JOINT_ID = "joint/demo/chat/1"
CHANGE_ID = f"{JOINT_ID}/cost/execute"


def _joint(phase: JointPhase, *, executing: bool = False, proposed: int = 0) -> JointStatus:
    proposals = [
        AgentProposals(agent=AgentKind.COST, workflow_id=f"{JOINT_ID}/cost/propose"),
        AgentProposals(agent=AgentKind.PERFORMANCE, workflow_id=f"{JOINT_ID}/performance/propose"),
    ]
    for found in proposals[:proposed]:
        found.proposals = [_proposal()]
    return JointStatus(
        workflow_id=JOINT_ID,
        customer_id="demo",
        workload_id="chat",
        phase=phase,
        proposals=proposals if phase is not JointPhase.PROPOSING else [],
        executions=(
            [ChildExecution(agent=AgentKind.COST, workflow_id=CHANGE_ID, title="Move chat to spot")]
            if executing
            else []
        ),
    )


def _proposal() -> Proposal:
    return Proposal.model_validate(factories.recommendation().model_dump(include=set(Proposal.model_fields)))


def test_a_workload_is_described_by_its_teams_phase_then_by_its_first_changes() -> None:
    assert describe("demo/chat", None, None) == WorkloadProgress(
        "demo/chat", "starting", "waiting for its workflow to answer"
    )
    proposing = describe("demo/chat", _joint(JointPhase.PROPOSING), None)
    assert proposing.phase == "proposing"
    assert "cost" in proposing.detail and "performance" in proposing.detail
    resolving = describe("demo/chat", _joint(JointPhase.RESOLVING, proposed=1), None)
    assert resolving == WorkloadProgress(
        "demo/chat", "resolving", "1 proposal(s) (cost): resolving their conflicts"
    )
    change = OptimizationStatus(workflow_id=CHANGE_ID, phase=WorkflowPhase.VERIFYING)
    executing = describe("demo/chat", _joint(JointPhase.EXECUTING, executing=True), change)
    assert executing == WorkloadProgress("demo/chat", "verifying", "cost agent: Move chat to spot")
    before_it_answers = describe("demo/chat", _joint(JointPhase.EXECUTING, executing=True), None)
    assert before_it_answers.phase == "starting"
    idle = describe("demo/chat", _joint(JointPhase.NO_ACTION), None, settled=True)
    assert idle == WorkloadProgress("demo/chat", "no_action", "nothing to do", settled=True)


class _ScriptedApi:
    """Answers the joint status from a script, one poll after another (the last answer repeats); the
    change's status likewise. A status that raises stands for a workflow not answering yet."""

    def __init__(self, joints: list[JointStatus | None], changes: list[OptimizationStatus]) -> None:
        self._joints = self._script(joints)
        self._changes = self._script(changes)

    @staticmethod
    def _script(answers: list[Any]) -> Iterator[Any]:
        yield from answers
        while True:
            yield answers[-1]

    async def joint_status(self, workflow_id: str) -> JointStatus:
        answer = next(self._joints)
        if answer is None:
            raise RuntimeError("not there yet")
        return cast(JointStatus, answer)

    async def optimization_status(self, workflow_id: str) -> OptimizationStatus:
        return cast(OptimizationStatus, next(self._changes))

    async def get_recommendation(self, recommendation_id: str) -> object:
        return None


class _Heard:
    def __init__(self) -> None:
        self.stages: list[str] = []
        self.workloads: list[WorkloadProgress] = []

    def stage(self, text: str) -> None:
        self.stages.append(text)

    def workload(self, progress: WorkloadProgress) -> None:
        self.workloads.append(progress)


async def test_settling_a_team_tells_each_change_of_phase_once_until_its_first_change_settles(
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("optiinfra.cli.run_once.POLL_S", 0.0)
    proposing = _joint(JointPhase.PROPOSING)
    executing = _joint(JointPhase.EXECUTING, executing=True)
    api = _ScriptedApi(
        [None, proposing, proposing, proposing, executing],
        [
            OptimizationStatus(workflow_id=CHANGE_ID, phase=WorkflowPhase.EXECUTING),
            OptimizationStatus(workflow_id=CHANGE_ID, phase=WorkflowPhase.EXECUTING),
            OptimizationStatus(workflow_id=CHANGE_ID, phase=WorkflowPhase.WATCHING),
            OptimizationStatus(workflow_id=CHANGE_ID, phase=WorkflowPhase.NO_ACTION),
        ],
    )
    heard = _Heard()

    run = await settle_joint(cast(ApiClient, api), "demo", "chat", JOINT_ID, 30.0, progress=heard)

    assert run.workflow_id == CHANGE_ID and run.agent == "cost"
    assert [(p.phase, p.settled) for p in heard.workloads] == [
        ("starting", False),
        ("proposing", False),
        ("executing", False),
        ("watching", False),
        ("no_action", True),
    ]


async def test_a_team_with_nothing_to_do_settles_on_its_own_status(monkeypatch: Any) -> None:
    monkeypatch.setattr("optiinfra.cli.run_once.POLL_S", 0.0)
    idle = _joint(JointPhase.NO_ACTION)
    idle.notes = ["every agent found the workload well sized"]
    heard = _Heard()

    run = await settle_joint(
        cast(ApiClient, _ScriptedApi([idle], [])), "demo", "chat", JOINT_ID, 30.0, progress=heard
    )

    assert run.agent == "joint" and run.status.phase is WorkflowPhase.NO_ACTION
    assert run.status.notes == ["every agent found the workload well sized"]
    assert heard.workloads == [WorkloadProgress("demo/chat", "no_action", "nothing to do", settled=True)]


def test_lines_tell_each_stage_and_change_after_the_seconds_since_the_start() -> None:
    now = [0.0]
    stream = io.StringIO()
    with LineProgress(stream, clock=lambda: now[0]) as progress:
        progress.stage("Starting the engine (Temporal dev server)")
        now[0] = 1.5
        progress.stage("Optimizing 1 workload(s)")
        now[0] = 12.25
        progress.workload(WorkloadProgress("demo/chat", "proposing", "the agents analyse it"))
        now[0] = 30.0
        progress.finish("Done in 30 s.")
    assert stream.getvalue().splitlines() == [
        "[   0.0s] Starting the engine (Temporal dev server)",
        "[   1.5s] Optimizing 1 workload(s)",
        "[  12.2s]   demo/chat: proposing - the agents analyse it",
        "[  30.0s] Done in 30 s.",
    ]


def _terminal() -> tuple[Console, io.StringIO]:
    """A console that takes itself for a terminal, and what it shows."""
    screen = io.StringIO()
    return Console(file=screen, force_terminal=True, width=120, color_system=None), screen


def test_the_live_display_keeps_finished_stages_with_their_times_and_the_workloads_table() -> None:
    now = [0.0]
    console, screen = _terminal()
    with LiveProgress(console, clock=lambda: now[0]) as progress:
        progress.stage("Starting the engine (Temporal dev server)")
        now[0] = 2.0
        progress.stage("Optimizing 2 workload(s)")
        progress.workload(WorkloadProgress("demo/chat", "pending_approval", "cost agent: Move", settled=True))
        now[0] = 5.0
        progress.workload(WorkloadProgress("demo/rag", "proposing", "the agents analyse it"))
        assert "Optimizing 2 workload(s)  3.0 s" in screen.getvalue(), "the current stage's own time"
        now[0] = 40.0
        progress.finish("Done in 40 s.")
    shown = screen.getvalue()
    last = shown[shown.rindex("✓ Starting the engine") :]
    assert "✓ Starting the engine (Temporal dev server)  2.0 s" in last
    assert "✓ Optimizing 2 workload(s)  38 s" in last
    assert "demo/chat" in last and "pending_approval" in last and "cost agent: Move" in last
    assert "demo/rag" in last and "proposing" in last
    assert last.splitlines()[-2] == "Done in 40 s."  # then the cursor is shown again


def test_quiet_and_json_show_no_progress_and_a_pipe_gets_lines() -> None:
    assert isinstance(progress_on_stderr(show=False), NoProgress)
    # Under pytest stderr is captured, not a terminal.
    assert isinstance(progress_on_stderr(show=True), LineProgress)


def test_a_counted_stage_takes_the_place_of_the_one_before_it_in_the_live_display() -> None:
    """A bench planning 40 workloads shows one line that counts, timed from its first item, not 40 lines;
    stages without figures, and counted ones of another series, still end the one before."""
    now = [0.0]
    console, screen = _terminal()
    with LiveProgress(console, clock=lambda: now[0]) as progress:
        progress.stage("Building 2 twin fleets")
        now[0] = 1.0
        for done in range(1, 41):
            progress.stage(f"Planned {done} of 40 workloads (fleet 0, w{done})")
            now[0] += 0.5
        progress.stage("Simulating the static policy")
        now[0] = 30.0
        progress.finish("Done in 30 s.")
    last = screen.getvalue()[screen.getvalue().rindex("✓ Building") :]
    assert "✓ Building 2 twin fleets  1.0 s" in last
    assert "✓ Planned 40 of 40 workloads (fleet 0, w40)  20 s" in last
    assert "Planned 39 of 40" not in last
    assert "✓ Simulating the static policy  9.0 s" in last
