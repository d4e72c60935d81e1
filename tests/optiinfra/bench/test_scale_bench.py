"""`bench scale` end to end on a tiny fleet: the dev server, the twin cloud, a SQLite store and one worker
process of each kind, a real fleet scan of 3 workloads with the stand-in analyzers, measured from outside.
The figures themselves are the benchmark's business; here every one must have been measured."""

from optiinfra.bench.scale.fleet import synthetic_fleet
from optiinfra.bench.scale.run import ScaleOptions, run_scale
from optiinfra.bench.scale.stub_analysis import proposes
from optiinfra.domain.enums import AgentKind
from workflows.task_queues import WorkKind

WORKLOADS = 3


async def test_a_scan_of_a_small_fleet_is_measured_end_to_end() -> None:
    lines: list[str] = []
    options = ScaleOptions(workloads=WORKLOADS, worker_processes=[1], per_customer=2, timeout_s=240)

    report = await run_scale(options, lines.append)

    [run] = report.runs
    fleet = synthetic_fleet(WORKLOADS, per_customer=2, region=options.region)
    waiting = sum(proposes(w.customer_id, w.workload_id) for w in fleet)
    assert (run.workloads, run.customers, run.started, run.skipped, run.failed_to_start) == (3, 2, 3, 0, 0)
    assert run.unsuccessful_runs == 0
    assert run.waiting_for_approval == waiting
    # Four agents propose for each workload; a proposal waiting for a person adds its execute run.
    assert run.agent_runs == 4 * WORKLOADS + waiting
    assert run.analyses == {agent.value: WORKLOADS for agent in AgentKind}
    assert set(run.cpu_seconds_per_optimization_by_group) == {kind.value for kind in WorkKind}
    assert run.orchestration_cpu_seconds_per_optimization > 0
    assert (
        run.orchestration_cpu_seconds_per_optimization
        == run.cpu_seconds_per_optimization_by_group["orchestration"]
    )
    assert 1_000 < run.history_bytes_per_optimization_p95 <= run.history_bytes_max
    assert set(run.history_bytes_p95_by_type) == {"JointOptimizationWorkflow", "AgentOptimizationWorkflow"}
    assert run.fleet_scan_seconds >= run.scan_listing_seconds > 0
    assert run.scan_runs == 1
    assert any("settled" in line for line in lines)
