"""The embedded demo's Deployment is analysed the same at every start. Its Kubernetes twin's history ends on
the 10-minute grid some minutes past the start, at the same hour of its traffic's day, and the live twin
holds still until then; where in that span the first analysis falls (when the stack took more or less time
to start, and where the wall clock stood on the grid) must not change what the Performance agent proposes.

The snapshot is read as the snapshot activity reads a Deployment-served workload: the metrics store's
windows through `read_performance` at the analysis time, and the Deployment from the twin's Kubernetes API."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from activities.readings import read_performance
from agents.performance.strategies import analyze_performance
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.kube import DeploymentRef
from optiinfra.embedded.kube_twin import EmbeddedKube
from optiinfra.embedded.stack import DEMO_TIME_OF_DAY_S, KUBE_HISTORY_AHEAD_S
from optiinfra.kube.deployments import Deployments
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.sim.demo_fleet import demo_fleet
from optiinfra.sim.demo_kube import demo_kube_workloads

REGION = "us-east-1"
REF = DeploymentRef(namespace="inference", name="assistant")
GRID_S = 600.0


async def test_the_assistant_gets_the_same_proposals_wherever_its_first_analysis_falls(
    tmp_path: Path,
) -> None:
    catalog = PriceCatalog.load_default()
    (demo,) = demo_kube_workloads(REGION)
    store = ChdbMetricsStore(tmp_path / "metrics")
    metrics = AsyncMetricsStore(store)
    kube = await EmbeddedKube.start(
        [demo],
        catalog=catalog,
        metrics=metrics,
        now=datetime.now(UTC),
        ahead_s=KUBE_HISTORY_AHEAD_S,
        time_of_day_s=DEMO_TIME_OF_DAY_S,
    )
    deployments = Deployments.for_url(kube.url)
    try:
        deployment = await deployments.read(REF)
        types = {t.name: t for t in catalog.types_in(REGION)}
        end = kube.now
        # The start lies between `ahead` and `ahead` + one grid step before the end; the analysis follows it.
        earliest = -(KUBE_HISTORY_AHEAD_S + GRID_S) + 10
        proposals: dict[float, list[str]] = {}
        for offset in (earliest, -GRID_S - 10, -GRID_S + 10, -10.0):
            at = end + timedelta(seconds=offset)
            readings = await read_performance(
                metrics, "demo", "assistant", at, {pod.name: demo.instance_type for pod in deployment.pods}
            )
            snapshot = WorkloadSnapshot(
                customer=demo_fleet(REGION).customer,
                workload=demo.workload,
                instances=[],
                instance_types={demo.instance_type: types[demo.instance_type]},
                candidate_types=list(types.values()),
                series=[],
                collected_at=at,
                deployment=deployment,
                windows=readings.windows,
                request_rate=readings.request_rate,
                replica_loads=readings.replica_loads,
            )
            proposals[offset] = [p.title for p in analyze_performance(snapshot).proposals]
    finally:
        await deployments.close()
        kube.stop()
        store.close()

    first = proposals[earliest]
    assert any(title.startswith("Scale assistant from 8 to ") for title in first), first
    assert all(found == first for found in proposals.values()), proposals
