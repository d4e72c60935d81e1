"""What `optiinfra run` prints at the end: the report (with no address of a stack the run has stopped, and
approvals offered only on a running `optiinfra up`), `--json` for scripts, `--quiet` for the report alone,
and progress on stderr otherwise."""

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from api.responses import RecommendationDetail, RecommendationItem
from optiinfra.cli.main import app
from optiinfra.cli.report import KEEP_A_STACK, render_report, run_result
from optiinfra.cli.run_fleet import FleetRun
from optiinfra.cli.run_once import FleetProgress, WorkloadProgress, WorkloadRun
from optiinfra.domain.enums import RecommendationStatus
from tests.optiinfra.store import factories
from workflows.contracts import OptimizationStatus, WorkflowPhase

API_URL = "http://127.0.0.1:8000"


def _detail(recommendation_id: str, status: RecommendationStatus, title: str) -> RecommendationDetail:
    found = factories.recommendation(recommendation_id, status=status).model_copy(update={"title": title})
    return RecommendationDetail(
        **RecommendationItem.of(found).model_dump(),
        steps=found.steps,
        evidence=found.evidence,
        step_results=[factories.step_result("launch-1"), factories.step_result("finalize-1")],
        updated_at=found.created_at,
    )


def _run(workload: str, recommendation: RecommendationDetail | None) -> WorkloadRun:
    phase = WorkflowPhase.NO_ACTION if recommendation is None else WorkflowPhase(recommendation.status.value)
    return WorkloadRun(
        customer_id="demo",
        workload_id=workload,
        agent="cost" if recommendation else "joint",
        workflow_id=f"joint/demo/{workload}/1/cost/execute",
        status=OptimizationStatus(
            workflow_id=f"joint/demo/{workload}/1", phase=phase, notes=["well sized already"]
        ),
        recommendation=recommendation,
    )


RUNS = [
    _run("chat", _detail("rec-executed", RecommendationStatus.EXECUTED, "Move chat to spot")),
    _run("rag", _detail("rec-waiting", RecommendationStatus.PENDING_APPROVAL, "Reserve 2x g6.xlarge")),
    _run("idle", None),
]


def test_after_a_throwaway_stack_no_address_is_printed_but_how_to_keep_one_up() -> None:
    report = render_report(RUNS, persistent_stack=False, api_url=API_URL)
    assert "http" not in report and "rec-waiting" not in report
    assert "optiinfra recommendations approve" not in report
    assert report.splitlines()[-1] == KEEP_A_STACK
    assert "  - [pending_approval] Reserve 2x g6.xlarge: saves $1,235/month" in report
    assert "Savings: $1,235/month executed, $1,235/month more waiting for approval." in report
    assert "  - demo/idle: well sized already" in report


def test_on_a_running_stack_its_api_and_the_approvals_are_offered() -> None:
    report = render_report(RUNS, persistent_stack=True, api_url=API_URL)
    assert report.splitlines()[-1] == f"API: {API_URL}/docs (the running `optiinfra up`)"
    assert "optiinfra recommendations approve rec-waiting --approver YOUR_NAME" in report
    assert "approve rec-executed" not in report
    assert KEEP_A_STACK not in report


def test_the_json_result_holds_every_workload_and_the_savings() -> None:
    result = json.loads(run_result(RUNS, persistent_stack=False, api_url=API_URL).model_dump_json())
    assert result["stack"] == "throwaway" and result["api_url"] is None
    assert [w["workload_id"] for w in result["workloads"]] == ["chat", "rag", "idle"]
    assert result["workloads"][1]["recommendation"]["id"] == "rec-waiting"
    assert result["savings"] == {"executed_monthly_usd": 1234.56, "pending_monthly_usd": 1234.56}
    running = run_result(RUNS, persistent_stack=True, api_url=API_URL)
    assert running.stack == "running" and running.api_url == API_URL


@pytest.fixture
def fleet_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """`optiinfra run` without a stack: the fleet's run reports a stage and a workload, then returns."""

    async def run_fleet(settings: Any, *, timeout_s: float, progress: FleetProgress) -> FleetRun:
        progress.stage("Starting the engine (Temporal dev server)")
        progress.workload(WorkloadProgress("demo/chat", "executed", "cost agent: Move chat", settled=True))
        return FleetRun(runs=RUNS, api_url=API_URL, persistent=False)

    monkeypatch.setattr("optiinfra.cli.run_fleet.run_fleet", run_fleet)


@pytest.mark.usefixtures("fleet_run")
def test_the_command_shows_its_progress_on_stderr_and_the_report_on_stdout() -> None:
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OptiInfra run: 3 workload(s)")
    stages = [line.split("] ", 1)[1] for line in result.stderr.splitlines()]
    assert stages[:3] == [
        "Loading OptiInfra",
        "Starting the engine (Temporal dev server)",
        "  demo/chat: executed - cost agent: Move chat",
    ]
    assert stages[-1].startswith("Done in ")


@pytest.mark.usefixtures("fleet_run")
def test_quiet_prints_the_report_alone_and_json_the_result_alone() -> None:
    quiet = CliRunner().invoke(app, ["run", "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert not quiet.stderr and quiet.stdout == render_report(RUNS, persistent_stack=False, api_url="") + "\n"
    as_json = CliRunner().invoke(app, ["run", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert not as_json.stderr
    assert json.loads(as_json.stdout)["savings"]["executed_monthly_usd"] == 1234.56
