"""One optimization, started and approved through the API against a real worker: its spans form one trace
(HTTP request -> StartWorkflow -> RunWorkflow, StartActivity -> RunActivity, the decide update linked in),
and its log lines, as the structured handler writes them, name the workflow and activity they came from."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity, workflow
from temporalio.client import Client

from optiinfra.engine.client import connect_temporal
from optiinfra.engine.devserver import DevServer
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.observability.logs import JsonFormatter, Redactor
from optiinfra.settings import Settings
from tests.support.asgi import api_client
from tests.support.cloud import SeededCloud
from tests.support.polling import read_retrying
from tests.workflows.conftest import CUSTOMER, DemoCollector, backfill_utilization, harness_settings
from workers.all_in_one import build_worker
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOKEN = "observability-token-0123456789"


class JsonLines(logging.Handler):
    """The lines the structured JSON handler would write, parsed back."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter(Redactor([TOKEN])))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def parsed(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.lines]


@dataclass
class Traced:
    client: Client
    provider: TracerProvider
    spans: InMemorySpanExporter
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    logs: JsonLines


@pytest.fixture
async def traced(
    temporal_dev_server: DevServer,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
) -> AsyncIterator[Traced]:
    """A worker of its own, on a client whose tracing interceptor records into memory (the process's
    global provider is left alone), and a JSON handler on the loggers the run writes to."""
    _, sessions = harness_store
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    client = await connect_temporal(Settings(), temporal_dev_server.address, tracer_provider=provider)
    task_queue = f"tests-traced-{uuid4()}"
    await backfill_utilization(seeded_cloud, tmp_path / "metrics")
    store = ChdbMetricsStore(tmp_path / "metrics")
    metrics = AsyncMetricsStore(store)
    logs = JsonLines()
    loggers = [workflow.logger.base_logger, activity.logger.base_logger]
    kept = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(logs)
        lg.setLevel(logging.INFO)
    saved_message_flags = (workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message)
    workflow.logger.workflow_info_on_message = activity.logger.activity_info_on_message = False
    try:
        async with httpx.AsyncClient() as http:
            worker = build_worker(
                client,
                task_queue=task_queue,
                sessions=sessions,
                fleet=seeded_cloud.fleet,
                scaling_groups=seeded_cloud.groups,
                collector=DemoCollector(metrics, seeded_cloud.fleet, http),
                metrics=metrics,
            )
            async with worker:
                yield Traced(client, provider, spans, sessions, harness_settings(task_queue), logs)
    finally:
        workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = (
            saved_message_flags
        )
        for lg, level in kept:
            lg.removeHandler(logs)
            lg.setLevel(level)
        store.close()
        provider.shutdown()


def _by_id(spans: list[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {span.context.span_id: span for span in spans if span.context is not None}


def _ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    names: list[str] = []
    parent = span.parent
    while parent is not None and parent.span_id in by_id:
        found = by_id[parent.span_id]
        names.append(found.name)
        parent = found.parent
    return names


async def test_one_optimization_is_one_trace_and_its_logs_name_their_run(traced: Traced) -> None:
    async with api_client(
        traced.settings,
        token=TOKEN,
        client=traced.client,
        sessions=traced.sessions,
        tracer_provider=traced.provider,
    ) as api:
        started = await api.post(
            "/v1/optimizations",
            json={"customer_id": CUSTOMER, "workload_id": "code-assist", "agents": ["cost"]},
        )
        assert started.status_code == 201, started.text
        workflow_id = started.json()["workflow_id"]
        handle = traced.client.get_workflow_handle_for(AgentOptimizationWorkflow.run, workflow_id)
        for _ in range(300):
            status = await read_retrying(lambda: handle.query(AgentOptimizationWorkflow.get_status))
            if status.phase is WorkflowPhase.PENDING_APPROVAL:
                break
            await asyncio.sleep(0.2)
        assert status.recommendation is not None, status
        decided = await api.post(
            f"/v1/recommendations/{status.recommendation.recommendation_id}/approve",
            json={"reason": "traced"},
        )
        assert decided.status_code == 202, decided.text
        final = await handle.result()
    run_id = (await handle.describe()).run_id
    assert final.phase is WorkflowPhase.EXECUTED, final.failure_reason

    spans = list(traced.spans.get_finished_spans())
    by_id = _by_id(spans)
    start = next(s for s in spans if s.name == "StartWorkflow:AgentOptimizationWorkflow")
    assert start.context is not None
    trace_id = start.context.trace_id
    run = [s for s in spans if s.context is not None and s.context.trace_id == trace_id]

    # The HTTP request that started it is the trace's root; the start is its descendant.
    root = [s for s in run if s.parent is None]
    assert len(root) == 1 and root[0].name == "POST /v1/optimizations", [s.name for s in root]
    assert "POST /v1/optimizations" in _ancestors(start, by_id)

    # Everything the worker did for this run is in the start's trace, under the start.
    worker_spans = [
        s
        for s in spans
        if (s.attributes or {}).get("temporalWorkflowID") == workflow_id
        and s.name.split(":")[0] in {"RunWorkflow", "RunActivity", "StartActivity", "HandleUpdate"}
    ]
    assert worker_spans and {s.context.trace_id for s in worker_spans if s.context} == {trace_id}
    names = {s.name for s in run}
    assert "RunWorkflow:AgentOptimizationWorkflow" in names
    activity_runs = [s for s in run if s.name.startswith("RunActivity:")]
    for span in [*activity_runs, *(s for s in run if s.name == "RunWorkflow:AgentOptimizationWorkflow")]:
        assert start.name in _ancestors(span, by_id), (span.name, _ancestors(span, by_id))
    # Every activity the run scheduled (read from its history) ran as a span of this trace.
    scheduled = [
        (
            event.activity_task_scheduled_event_attributes.activity_id,
            event.activity_task_scheduled_event_attributes.activity_type.name,
        )
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert {name for _, name in scheduled} >= {"load_workload", "analyze_stored_snapshot", "execute_step"}
    ran = {
        ((s.attributes or {}).get("temporalActivityID"), s.name)
        for s in activity_runs
        if (s.attributes or {}).get("temporalWorkflowID") == workflow_id
    }
    for activity_id, name in scheduled:
        assert (activity_id, f"RunActivity:{name}") in ran, (activity_id, name, sorted(ran))
    # Each activity run sits under the workflow's StartActivity span of the same activity.
    for span in activity_runs:
        assert span.parent is not None and by_id[span.parent.span_id].name == span.name.replace(
            "RunActivity:", "StartActivity:"
        )

    # The approval is its own request (its own trace), linked into the run's: the workflow's handling of
    # the decide update is in the run's trace and links to the API's StartWorkflowUpdate span.
    sent = next(s for s in spans if s.name == "StartWorkflowUpdate:decide")
    assert sent.context is not None and sent.context.trace_id != trace_id
    handled = [s for s in run if s.name in {"HandleUpdate:decide", "ValidateUpdate:decide"}]
    assert {s.name for s in handled} == {"HandleUpdate:decide", "ValidateUpdate:decide"}
    for span in handled:
        assert [link.context.span_id for link in span.links] == [sent.context.span_id]
    approve_root = by_id[_root_of(sent, by_id)]
    assert approve_root.name == "POST /v1/recommendations/{recommendation_id}/approve"

    # Logs: the workflow's phase lines and the activities' step lines carry the run's ids and trace (the
    # run ends by asking another agent, whose own run, a child in the same trace, may log too).
    lines = traced.logs.parsed()
    phases = [line for line in lines if str(line["message"]).startswith("phase ")]
    for line in phases:
        assert line["workflow_type"] == "AgentOptimizationWorkflow" and line["run_id"]
        assert line["task_queue"] == traced.settings.temporal_task_queue
        assert line["trace_id"] == format(trace_id, "032x")
        assert {"ts", "level", "logger"} <= line.keys() and "activity_id" not in line
    ours = [line for line in phases if line["workflow_id"] == workflow_id]
    assert {line["run_id"] for line in ours} == {run_id}
    messages = [line["message"] for line in ours]
    assert "phase executing" in messages and messages[-1] == "phase executed", messages
    steps = [line for line in lines if str(line["message"]).startswith("step ")]
    assert steps, traced.logs.lines
    for line in steps:
        assert line["activity_type"] == "execute_step" or "step" in str(line["activity_type"])
        assert line["workflow_id"] == workflow_id and line["run_id"] == run_id
        assert line["activity_id"] and line["attempt"] == 1
        assert line["trace_id"] == format(trace_id, "032x") and line["span_id"]
    assert all(TOKEN not in line for line in traced.logs.lines)


def _root_of(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> int:
    current = span
    while current.parent is not None and current.parent.span_id in by_id:
        current = by_id[current.parent.span_id]
    assert current.context is not None
    return current.context.span_id
