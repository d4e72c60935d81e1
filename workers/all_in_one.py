"""The project's workers: one per kind of work (`workflows.task_queues`), each on its task queue. The
all-in-one worker runs every kind in one process (`optiinfra up`, `optiinfra worker` by default); production
runs each kind as its own Deployment (`optiinfra worker --kind cloud`, ...) and scales it on its queue's
backlog."""

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from qdrant_client import QdrantClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from activities.agent_requests import AgentRequestActivities
from activities.analysis import AnalysisActivities, scaling_settings
from activities.application import ApplicationActivities
from activities.cloud import CloudActivities
from activities.coordination import CoordinationActivities
from activities.kube import KubeActivities
from activities.learning import LearningActivities
from activities.llm import LlmActivities
from activities.metrics import MetricsActivities
from activities.own_metrics import WorkerGauges
from activities.regression import RegressionActivities
from activities.snapshots import StoredSnapshotActivities
from activities.store import StoreActivities
from agents.performance.scaling import ScalingSettings
from agents.reasoning.layering import InferenceLayer
from optiinfra.application.model_prices import ModelPriceTable
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud.autoscaling import ScalingGroups
from optiinfra.cloud.call_rate import configure_call_rates
from optiinfra.cloud.ec2 import Ec2Fleet
from optiinfra.connections.workers import CustomerConnections
from optiinfra.engine.client import connect_temporal
from optiinfra.engine.metrics_runtime import (
    DEFAULT_WORKER_METRICS_PORT,
    metrics_url,
    prometheus_runtime,
    worker_metrics_address,
)
from optiinfra.kube.deployments import Deployments
from optiinfra.kube.in_flight import InFlightProbe, pod_ip_metrics_url
from optiinfra.kube.pod_targets import DeploymentPodTargets
from optiinfra.kvcache.traces import PrefixTraces
from optiinfra.learning.store import OutcomeStore
from optiinfra.llm.from_settings import inference_config
from optiinfra.metrics.collector import MetricsCollector, PrivateIpTargets
from optiinfra.metrics.open import open_metrics_store
from optiinfra.metrics.prometheus_windows import PrometheusWindowSource
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.settings import Settings
from optiinfra.store.capacity_profiles import StoredCapacityProfiles
from optiinfra.store.database import create_engine_for, session_factory
from workers.bytecode import without_bytecode
from workers.group import WORKFLOW_TASK_SLOTS, WorkerGroup, workers_by_kind
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.fleet_scan import FleetScanWorkflow
from workflows.joint_optimization import JointOptimizationWorkflow
from workflows.metrics_collection import MetricsCollectionWorkflow
from workflows.preview import RecommendationPreviewWorkflow
from workflows.regression_watch import RegressionWatchWorkflow
from workflows.rollback import RollbackWorkflow
from workflows.task_queues import WorkKind

logger = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (
    AgentOptimizationWorkflow,
    JointOptimizationWorkflow,
    FleetScanWorkflow,
    MetricsCollectionWorkflow,
    RegressionWatchWorkflow,
    RollbackWorkflow,
    RecommendationPreviewWorkflow,
)


@dataclass(frozen=True)
class WorkerSlots:
    """How many activities a worker of each kind runs at once (OPTIINFRA_WORKER_<KIND>_SLOTS), and how many
    workflow tasks an orchestration worker runs at once (`workflow_tasks`)."""

    orchestration: int = 100
    cloud: int = 16
    analysis: int = 2
    llm: int = 8
    metrics: int = 32
    workflow_tasks: int = WORKFLOW_TASK_SLOTS

    def of(self, kind: WorkKind) -> int:
        slots: int = getattr(self, kind.value)
        return slots

    @classmethod
    def from_settings(cls, settings: Settings) -> "WorkerSlots":
        return cls(
            orchestration=settings.worker_orchestration_slots,
            cloud=settings.worker_cloud_slots,
            analysis=settings.worker_analysis_slots,
            llm=settings.worker_llm_slots,
            metrics=settings.worker_metrics_slots,
            workflow_tasks=settings.worker_workflow_task_slots,
        )


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    fleet: Ec2Fleet,
    scaling_groups: ScalingGroups,
    collector: MetricsCollector,
    metrics: AsyncMetricsStore,
    catalog: PriceCatalog | None = None,
    inference: InferenceLayer | None = None,
    deployments: Deployments | None = None,
    in_flight: InFlightProbe | None = None,
    prefix_traces: PrefixTraces | None = None,
    model_prices: ModelPriceTable | None = None,
    learning: LearningActivities | None = None,
    scaling: ScalingSettings | None = None,
    connections: CustomerConnections | None = None,
    kinds: Collection[WorkKind] = tuple(WorkKind),
    slots: WorkerSlots | None = None,
    analysis: AnalysisActivities | None = None,
) -> WorkerGroup:
    """One worker per kind of work in `kinds` (all by default: the all-in-one worker), each polling its
    task queue beside `task_queue` (`workflows.task_queues`) with its kind's activities, and the
    orchestration one every workflow; `slots` caps what each runs at once.
    `inference` left out means rules only: explanations are then built from the proposals alone.
    `deployments` left out means no Kubernetes of the worker's own: workloads served by a Deployment can
    then be analyzed only for customers whose connection names their cluster.
    `connections` left out acts on every customer with the worker's own account, cluster and sources.
    `learning` left out keeps past outcomes in a Qdrant collection in memory, for this worker's life.
    `analysis` left out runs the agents' analyzers (`bench scale --analysis stub` passes constant-time
    stand-ins)."""
    catalog = catalog or PriceCatalog.load_default()
    gauges = WorkerGauges.of_client(client)  # on the client's Runtime: its metrics endpoint, if it has one
    store = StoreActivities(sessions)
    cloud = CloudActivities(
        fleet,
        catalog,
        metrics,
        scaling_groups,
        deployments,
        prefix_traces,
        capacity_profiles=StoredCapacityProfiles(sessions),
        accounts=connections.accounts if connections is not None else None,
        clusters=connections.clusters if connections is not None else None,
    )
    kube_activities: list[Any] = []
    if deployments is not None or connections is not None:
        if in_flight is None:
            raise ValueError("draining pods needs an in-flight probe of their vLLM metrics")
        kube = KubeActivities(
            deployments, in_flight, clusters=connections.clusters if connections is not None else None
        )
        kube_activities = [kube.execute_kube_step, kube.compensate_kube_step, kube.verify_kube_execution]
    collection = MetricsActivities(collector, connections.collectors if connections is not None else None)
    layer = inference or InferenceLayer()
    gauges.breakers_of(layer)
    llm = LlmActivities(layer, sessions, gauges=gauges)
    coordination = CoordinationActivities(layer, sessions, gauges=gauges)
    regression = RegressionActivities(metrics, sessions, layer, gauges=gauges)
    learning = learning or LearningActivities(OutcomeStore(QdrantClient(location=":memory:")))
    application = ApplicationActivities(sessions)
    analysis = analysis or AnalysisActivities(model_prices, scaling)
    snapshots = StoredSnapshotActivities(cloud, analysis, sessions)
    agent_requests = AgentRequestActivities(client)
    activities: list[Callable[..., Any]] = [
        store.load_workload,
        store.list_workloads,
        store.list_scan_page,
        store.persist_recommendation,
        store.change_recommendation_status,
        store.record_step_result,
        store.record_outcome,
        store.acquire_workload_lock,
        store.release_workload_lock,
        cloud.collect_workload_snapshot,
        cloud.read_workload_objects,
        cloud.execute_step,
        cloud.compensate_step,
        cloud.verify_execution,
        analysis.analyze_workload,
        snapshots.collect_stored_snapshot,
        snapshots.analyze_stored_snapshot,
        collection.collect_workload_metrics,
        llm.explain_proposal,
        application.collect_application_profile,
        agent_requests.send_agent_request,
        coordination.coordinate_proposals,
        coordination.record_conflicts,
        learning.adjust_confidence,
        learning.record_learned_outcome,
        regression.measure_serving_health,
        regression.check_regression,
        regression.explain_regression,
        regression.load_rollback_plan,
        regression.find_recent_change,
        regression.record_rollback,
        *kube_activities,
    ]
    chosen = slots or WorkerSlots()
    return workers_by_kind(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=activities,
        kinds=kinds,
        slots=chosen.of,
        workflow_task_slots=chosen.workflow_tasks,
    )


def worker_kinds(configured: str) -> list[WorkKind]:
    """The kinds OPTIINFRA_WORKER_KINDS names (`all`, or a comma-separated list); ValueError names an
    unknown one."""
    names = [name.strip() for name in configured.split(",") if name.strip()]
    if not names or names == ["all"]:
        return list(WorkKind)
    known = {kind.value: kind for kind in WorkKind}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown worker kind {', '.join(unknown)}: choose from all, {', '.join(known)}")
    return [known[name] for name in dict.fromkeys(names)]


def prometheus_source(settings: Settings, http: httpx.AsyncClient) -> PrometheusWindowSource | None:
    """Read window statistics from Prometheus when one is configured; windows then tile the
    collection schedule, one per interval."""
    if not settings.prometheus_url:
        return None
    return PrometheusWindowSource(
        settings.prometheus_url,
        http,
        instance_label=settings.prometheus_instance_label,
        window=timedelta(seconds=settings.metrics_interval_seconds),
    )


def kube_from_settings(settings: Settings) -> Deployments | None:
    """The Kubernetes API when one is configured: an explicit URL, the pod's service account, or a
    kubeconfig file that exists. None otherwise (workloads on Deployments then cannot be analyzed)."""
    kubeconfig = Path(os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]).expanduser()
    if settings.kube_api_url or settings.kube_in_cluster or kubeconfig.exists():
        return Deployments.from_settings(settings)
    return None


async def run_worker(settings: Settings, *, analysis: AnalysisActivities | None = None) -> None:
    """Run until cancelled, against the settings' Temporal, store, metrics store and cloud, serving
    Prometheus metrics at OPTIINFRA_WORKER_METRICS_ADDRESS (by default on port 9464 of every interface).
    `analysis`: see `build_worker`."""
    address = worker_metrics_address(
        settings.worker_metrics_address, f"0.0.0.0:{DEFAULT_WORKER_METRICS_PORT}"
    )
    runtime = prometheus_runtime(address) if address else None
    if address:
        logger.info("worker metrics at %s", metrics_url(address))
    kinds = worker_kinds(settings.worker_kinds)
    if WorkKind.ORCHESTRATION in kinds and (
        stale := without_bytecode(sys.modules[w.__module__] for w in WORKFLOWS)
    ):
        logger.warning(
            "no current bytecode for %s (PYTHONDONTWRITEBYTECODE, or a read-only folder): every workflow "
            "run compiles its module from source; run `python -m compileall` over the project first",
            ", ".join(stale),
        )
    configure_call_rates(settings)
    client = await connect_temporal(settings, runtime=runtime)
    engine = create_engine_for(settings.effective_database_url)
    store = open_metrics_store(settings)
    metrics = AsyncMetricsStore(store)
    fleet = Ec2Fleet.from_settings(settings)
    inference = InferenceLayer(inference_config(settings))
    deployments = kube_from_settings(settings)
    try:
        async with httpx.AsyncClient() as http:
            pod_metrics = pod_ip_metrics_url(settings.vllm_metrics_port)
            collector = MetricsCollector(
                store=metrics,
                fleet=fleet,
                resolver=PrivateIpTargets(settings.vllm_metrics_port),
                http=http,
                catalog=PriceCatalog.load_default(),
                prometheus=prometheus_source(settings, http),
                pods=DeploymentPodTargets(deployments, pod_metrics) if deployments is not None else None,
            )
            sessions = session_factory(engine)
            scaling_groups = ScalingGroups.from_settings(settings)
            connections = CustomerConnections.from_settings(
                settings,
                sessions,
                fleet=fleet,
                scaling_groups=scaling_groups,
                deployments=deployments,
                collector=collector,
                pod_metrics_url=pod_metrics,
            )
            worker = build_worker(
                client,
                task_queue=settings.temporal_task_queue,
                sessions=sessions,
                fleet=fleet,
                scaling_groups=scaling_groups,
                connections=connections,
                collector=collector,
                metrics=metrics,
                inference=inference,
                deployments=deployments,
                in_flight=InFlightProbe(http, pod_metrics),
                prefix_traces=PrefixTraces(settings.prefix_trace_dir),
                model_prices=ModelPriceTable.configured(settings),
                learning=LearningActivities.from_settings(settings),
                scaling=scaling_settings(settings),
                kinds=kinds,
                slots=WorkerSlots.from_settings(settings),
                analysis=analysis,
            )
            logger.info("polling task queues %s", ", ".join(worker.task_queues))
            try:
                await worker.run()
            finally:
                await connections.aclose()
    finally:
        if deployments is not None:
            await deployments.close()
        await inference.aclose()
        store.close()
        await engine.dispose()


def main() -> None:
    asyncio.run(run_worker(Settings()))


if __name__ == "__main__":
    main()
