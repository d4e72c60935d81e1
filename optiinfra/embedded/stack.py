"""Start whatever the configured deployment lacks (engine, twin cloud), then the store, worker and API.

Production settings (TEMPORAL_ADDRESS, a real AWS account, a PostgreSQL URL) make the matching
embedded part step aside; the rest of the stack is the same code either way."""

import asyncio
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.analysis import scaling_settings
from agents.reasoning.layering import InferenceLayer
from api.app import create_app
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud.autoscaling import ScalingGroups
from optiinfra.cloud.ec2 import Ec2Fleet
from optiinfra.connections.workers import CustomerConnections
from optiinfra.embedded.kube_twin import EmbeddedKube
from optiinfra.embedded.token import ensure_demo_admin_key, resolve_api_token
from optiinfra.embedded.twin import EmbeddedTwin
from optiinfra.engine.client import connect_temporal
from optiinfra.engine.devserver import (
    ENGINE_PID_FILE,
    DevServerError,
    free_port,
    start_dev_server,
    temporal_cli_path,
)
from optiinfra.engine.metrics_runtime import (
    DEFAULT_WORKER_METRICS_PORT,
    metrics_url,
    prometheus_runtime,
    worker_metrics_address,
)
from optiinfra.engine.regression_schedule import ensure_regression_watch_schedule
from optiinfra.engine.schedules import ensure_metrics_schedule
from optiinfra.extras import METRICS_STORE, TWIN_CLOUD, EmbeddedExtraMissing, EmbeddedPart
from optiinfra.kube.deployments import Deployments
from optiinfra.kube.in_flight import InFlightProbe, PodMetricsUrl, pod_ip_metrics_url
from optiinfra.kube.pod_targets import DeploymentPodTargets
from optiinfra.kvcache.traces import PrefixTraces
from optiinfra.llm.from_settings import inference_config
from optiinfra.metrics.collector import (
    MetricsCollector,
    PrivateIpTargets,
    ScrapeTargetResolver,
)
from optiinfra.metrics.reporting import open_reporting_metrics
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.settings import Settings
from optiinfra.sim.demo_fleet import demo_fleet
from optiinfra.sim.demo_kube import DEMO_PREFIX_TRACE, demo_kube_workloads
from optiinfra.sim.moto_server import start_moto_server
from optiinfra.sim.seed import SeededFleet, seed_demo_fleet
from optiinfra.sim.usage_history import past_cost_samples
from optiinfra.store import repository
from optiinfra.store.database import create_engine_for, migrate, session_factory
from workers.all_in_one import build_worker, kube_from_settings
from workers.group import WorkerGroup

DEMO_TIME_OF_DAY_S = 21 * 3600.0
"""Where the twins' traffic day stands when an embedded stack starts, whatever the wall clock says: 21:00,
the assistant's evening decline six hours after its peak. Every start replays the same hours of traffic, so
what `optiinfra run` finds does not depend on the hour it is started at (the readings still carry the real
time, as the agents read them by it)."""
KUBE_HISTORY_AHEAD_S = 300.0
"""How far past the start the Kubernetes twin's history reaches, at least (see `EmbeddedKube.start`): the
twin holds still until the wall clock gets there, so the first analysis of the Deployment, within these
minutes of the start, reads the history alone, not readings taken from however many live windows the
twin had served by then."""

StageCallback = Callable[[str], None]
"""Told what the stack starts next, e.g. to show progress; each call ends the stage before it."""


def _no_progress(stage: str) -> None:
    pass


@dataclass
class RunningStack:
    settings: Settings
    api_url: str
    api_token: str
    demo_admin_key: str | None
    temporal_ui_url: str | None
    persistent: bool
    worker_metrics_url: str | None = None
    """The worker's Prometheus endpoint (optiinfra_* and temporal_*); None when switched off."""


async def seed_demo_store(
    sessions: async_sessionmaker[AsyncSession], region: str, *, kubernetes: bool = True
) -> None:
    """Register the twin's demo customer and workloads (on instances, and with `kubernetes` the one on the
    twin's Kubernetes endpoint), keeping any edits made to existing rows."""
    fleet = demo_fleet(region)
    async with sessions.begin() as session:
        customer = fleet.customer
        if await repository.get_customer(session=session, customer_id=customer.customer_id) is None:
            await repository.upsert_customer(session=session, customer=customer)
        on_kubernetes = [demo.workload for demo in demo_kube_workloads(region)] if kubernetes else []
        for workload in [*fleet.workloads(), *on_kubernetes]:
            existing = await repository.get_workload(
                session=session, customer_id=workload.customer_id, workload_id=workload.workload_id
            )
            if existing is None:
                await repository.upsert_workload(session=session, workload=workload)


def require_embedded_parts(settings: Settings) -> None:
    """Each part these settings leave embedded must be installed (the `embedded` extra, which a production
    install leaves out). Checked before anything starts, so a missing one is one line (a DevServerError,
    which `optiinfra up` prints as such) rather than a traceback after the engine has started."""
    parts: list[EmbeddedPart] = []
    if settings.embedded_cloud:
        parts.append(TWIN_CLOUD)
    if not settings.clickhouse_url:
        parts.append(METRICS_STORE)
    try:
        for part in parts:
            part.load()
    except EmbeddedExtraMissing as missing:
        raise DevServerError(str(missing)) from None
    if settings.embedded_engine:
        temporal_cli_path()


@asynccontextmanager
async def running_stack(
    settings: Settings, *, persistent: bool, on_stage: StageCallback = _no_progress
) -> AsyncIterator[RunningStack]:
    """`persistent`: the fixed ports and the state dir of `optiinfra up`; otherwise a throwaway stack on
    free ports in a temporary directory, as `optiinfra run` uses when no stack is up. `on_stage` hears each
    stage as it starts."""
    require_embedded_parts(settings)
    async with AsyncExitStack() as exits:
        api_socket: socket.socket | None = None
        if not persistent:
            scratch = exits.enter_context(tempfile.TemporaryDirectory(prefix="optiinfra-"))
            # The API's port is bound now and held until the API serves on it: a port only looked up here
            # could be handed to another server (this stack's own, or another process's) before then.
            api_socket = exits.enter_context(_bound_socket(settings.api_host))
            port = api_socket.getsockname()[1]
            settings = settings.model_copy(update={"state_dir": Path(scratch), "api_port": port})
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        if settings.embedded_engine:
            on_stage("Starting the engine (Temporal dev server)")
            # Started here, on the event loop's (main) thread, not in an executor: on Linux the engine is
            # signalled to stop when the thread that started it ends, which must be when this process does.
            server = start_dev_server(
                db_path=settings.state_dir / "temporal.db" if persistent else None,
                log_path=settings.state_dir / "logs" / "temporal.log",
                port=settings.embedded_temporal_port if persistent else None,
                ui_port=settings.embedded_temporal_ui_port if persistent else None,
                headless=not persistent,
                pid_file=settings.state_dir / ENGINE_PID_FILE if persistent else None,
            )
            exits.callback(server.stop)
            # The console links runs to this engine's UI; a headless one has none, and a configured UI
            # would be another engine's.
            settings = settings.model_copy(
                update={"temporal_address": server.address, "temporal_ui_url": server.ui_url}
            )
        seeded: SeededFleet | None = None
        if settings.embedded_cloud:
            on_stage("Starting the twin cloud (moto) and seeding the demo fleet")
            moto = start_moto_server(port=settings.embedded_cloud_port if persistent else 0)
            exits.callback(moto.stop)
            seeded = await seed_demo_fleet(moto.endpoint_url, settings.aws_region, datetime.now(UTC), days=0)
            settings = settings.model_copy(update={"aws_endpoint_url": moto.endpoint_url})
        token = resolve_api_token(settings)
        settings = settings.model_copy(update={"api_token": SecretStr(token)})

        on_stage("Preparing the store")
        await migrate(settings.effective_database_url)
        engine = create_engine_for(settings.effective_database_url)
        exits.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        demo_key = None
        if settings.profile == "embedded":
            await seed_demo_store(sessions, settings.aws_region, kubernetes=seeded is not None)
            demo_key = await ensure_demo_admin_key(
                sessions, settings, demo_fleet(settings.aws_region).customer.customer_id
            )

        fleet = Ec2Fleet.from_settings(settings)
        scaling_groups = ScalingGroups.from_settings(settings)
        resolver: ScrapeTargetResolver = PrivateIpTargets(settings.vllm_metrics_port)
        if seeded is not None:
            on_stage("Simulating the fleet's last 14 days (the twin's history, published to CloudWatch)")
            twin = await EmbeddedTwin.start(
                demo=seeded.fleet,
                instance_ids=seeded.instance_ids,
                fleet=fleet,
                catalog=PriceCatalog.load_default(),
                now=datetime.now(UTC),
                time_of_day_s=DEMO_TIME_OF_DAY_S,
            )
            exits.callback(twin.stop)
            resolver = twin
            live = asyncio.create_task(twin.run_live(settings.twin_window_seconds), name="twin")
            exits.push_async_callback(_cancel, live)
        metrics = open_reporting_metrics(settings)  # one store for the worker, the collector and the API
        exits.callback(metrics.close)
        if seeded is not None:
            on_stage("Writing the fleet's 90 days of billing history")
            await _backfill_usage(metrics, fleet, seeded)
            on_stage("Starting the twin's Kubernetes endpoint and simulating its pods' last 7 days")
        deployments, pod_metrics, kube_url = await _start_kubernetes(
            settings, exits, metrics, twin=seeded is not None, persistent=persistent
        )
        settings = settings.model_copy(update={"kube_api_url": kube_url})
        http = await exits.enter_async_context(httpx.AsyncClient())
        collector = MetricsCollector(
            store=metrics,
            fleet=fleet,
            resolver=resolver,
            http=http,
            catalog=PriceCatalog.load_default(),
            pods=DeploymentPodTargets(deployments, pod_metrics) if deployments is not None else None,
        )
        on_stage("Collecting the fleet's metrics")
        await _collect_once(collector, sessions)

        on_stage("Starting the worker and the API")

        # The worker's metrics endpoint lives as long as this client's Runtime: the stack's life.
        metrics_address = _worker_metrics_address(settings, persistent=persistent)
        runtime = prometheus_runtime(metrics_address) if metrics_address else None
        client = await connect_temporal(settings, runtime=runtime)
        await ensure_metrics_schedule(client, settings)
        await ensure_regression_watch_schedule(client, settings)
        inference = InferenceLayer(inference_config(settings))
        exits.push_async_callback(inference.aclose)
        connections = CustomerConnections.from_settings(
            settings,
            sessions,
            fleet=fleet,
            scaling_groups=scaling_groups,
            deployments=deployments,
            collector=collector,
            pod_metrics_url=pod_metrics,
        )
        exits.push_async_callback(connections.aclose)
        worker = build_worker(
            client,
            task_queue=settings.temporal_task_queue,
            sessions=sessions,
            fleet=fleet,
            scaling_groups=scaling_groups,
            collector=collector,
            metrics=metrics,
            inference=inference,
            deployments=deployments,
            in_flight=InFlightProbe(http, pod_metrics),
            prefix_traces=_prefix_traces(settings, twin=seeded is not None),
            scaling=scaling_settings(settings),
            connections=connections,
        )
        worker_task = asyncio.create_task(worker.run(), name="worker")
        exits.push_async_callback(_stop_worker, worker, worker_task)

        api = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, client=client, sessions=sessions, metrics=metrics),
                host=settings.api_host,
                port=settings.api_port,
                log_level="warning",
                log_config=None,  # its warnings go through the process's structured handler
                lifespan="on",
            )
        )
        api_task = asyncio.create_task(
            api.serve(sockets=[api_socket] if api_socket is not None else None), name="api"
        )
        exits.push_async_callback(_stop_api, api, api_task)
        while not api.started:
            if api_task.done():
                api_task.result()
                raise RuntimeError(f"the API could not listen on {settings.api_host}:{settings.api_port}")
            await asyncio.sleep(0.05)

        yield RunningStack(
            settings=settings,
            api_url=f"http://{settings.api_host}:{settings.api_port}",
            api_token=token,
            demo_admin_key=demo_key,
            temporal_ui_url=settings.temporal_ui_url,
            persistent=persistent,
            worker_metrics_url=metrics_url(metrics_address) if metrics_address else None,
        )


def _bound_socket(host: str) -> socket.socket:
    """A TCP socket bound to a free port of `host`, not listening yet (uvicorn listens on it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, 0))
    except OSError:
        sock.close()
        raise
    return sock


def _worker_metrics_address(settings: Settings, *, persistent: bool) -> str | None:
    """The configured address; else `up` serves on loopback port 9464 (another free one if that is taken),
    a throwaway stack on a free one."""
    port = DEFAULT_WORKER_METRICS_PORT
    if not persistent or not _loopback_port_free(port):
        port = free_port()
    return worker_metrics_address(settings.worker_metrics_address, f"127.0.0.1:{port}")


def _loopback_port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


async def _start_kubernetes(
    settings: Settings, exits: AsyncExitStack, metrics: AsyncMetricsStore, *, twin: bool, persistent: bool
) -> tuple[Deployments | None, PodMetricsUrl, str]:
    """The Kubernetes API the Performance agent acts through, how to reach a pod's metrics, and the API's
    URL when known: the configured cluster, or in the embedded twin its own endpoint with the demo's
    Deployments (their pods' metrics served by the twin)."""
    if not twin:
        deployments = kube_from_settings(settings)
        if deployments is not None:
            exits.push_async_callback(deployments.close)
        return deployments, pod_ip_metrics_url(settings.vllm_metrics_port), settings.kube_api_url
    kube = await EmbeddedKube.start(
        demo_kube_workloads(settings.aws_region),
        catalog=PriceCatalog.load_default(),
        metrics=metrics,
        now=datetime.now(UTC),
        port=settings.embedded_kube_port if persistent else 0,
        ahead_s=KUBE_HISTORY_AHEAD_S,
        time_of_day_s=DEMO_TIME_OF_DAY_S,
    )
    exits.callback(kube.stop)
    live = asyncio.create_task(kube.run_live(settings.twin_window_seconds), name="kube-twin")
    exits.push_async_callback(_cancel, live)
    deployments = Deployments.for_url(kube.url)
    exits.push_async_callback(deployments.close)
    return deployments, kube.pod_metrics_url, kube.url


def _prefix_traces(settings: Settings, *, twin: bool) -> PrefixTraces:
    """Workloads' prefix traces; in the twin, the demo Deployment's is the real Mooncake conversation trace
    (read from the shared data set)."""
    overrides = {}
    if twin:
        for demo in demo_kube_workloads(settings.aws_region):
            overrides[(demo.workload.customer_id, demo.workload.workload_id)] = (
                settings.data_dir / DEMO_PREFIX_TRACE
            )
    return PrefixTraces(settings.prefix_trace_dir, overrides)


async def _collect_once(collector: MetricsCollector, sessions: async_sessionmaker[AsyncSession]) -> None:
    """A first collection pass before serving, so the agents find utilization history at once
    (the schedule then keeps it current)."""
    async with sessions() as session:
        workloads = await repository.list_workloads(session=session)
    for workload in workloads:
        await collector.collect(workload, datetime.now(UTC))


async def _backfill_usage(metrics: AsyncMetricsStore, fleet: Ec2Fleet, seeded: SeededFleet) -> None:
    """The months of billing history the twin's fleet stands for (see optiinfra.sim.usage_history)."""
    customer_id = seeded.fleet.customer.customer_id
    catalog = PriceCatalog.load_default()
    for workload in seeded.fleet.workloads():
        instances = await fleet.describe_workload_instances(customer_id, workload.workload_id)
        await metrics.write_cost_samples(
            past_cost_samples(customer_id, instances, catalog, seeded.region, datetime.now(UTC))
        )


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _stop_worker(worker: WorkerGroup, task: asyncio.Task[None]) -> None:
    if not task.done():
        await worker.shutdown()
    await asyncio.gather(task, return_exceptions=True)


async def _stop_api(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.gather(task, return_exceptions=True)
