"""Captures one stored history of every workflow type the worker runs, for the replay tests:
`python -m tests.replay.capture [DIR]` (`make replay-histories`) runs the embedded stack through the
product's own paths and writes `<WorkflowType>.json.gz` per type into DIR (tests/replay/histories): the
run's workflow id (child workflow ids derive from it) and its history as Temporal's JSON.

What runs: support-bot's autoscaling policy approved, executed and rolled back; chat-8b's right-sizing
executed on its own; rag-embed's recommendation previewed and rejected; a joint optimization of
batch-summarize; a fleet scan of the demo customer; a regression watch pass; and the metrics collection the
stack's Schedule runs. For each type the history kept is that of its most recent run that finished, or of
one still waiting (a joint run's children wait for approvals) when none did.

Re-capture after a deliberate, versioned change of workflow code; never to make a failing replay pass."""

import asyncio
import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory

from optiinfra.embedded.stack import running_stack
from optiinfra.engine.client import connect_temporal
from tests.portal.stack import portal_settings, start_pending, wait_for_recommendation
from workers.all_in_one import WORKFLOWS
from workflows.contracts import FleetScanRequest, RegressionWatchRequest, RollbackRequest
from workflows.fleet_scan import FleetScanWorkflow
from workflows.regression_watch import RegressionWatchWorkflow
from workflows.rollback import RollbackWorkflow, rollback_workflow_id

HISTORIES = Path(__file__).resolve().parent / "histories"
TIMEOUT_S = 120


def workflow_types() -> list[str]:
    names = []
    for workflow_class in WORKFLOWS:
        definition: Any = getattr(workflow_class, "__temporal_workflow_definition")
        names.append(str(definition.name))
    return names


async def _exercise(api: httpx.AsyncClient, client: Client, task_queue: str) -> None:
    rolled_back = await start_pending(api, "support-bot")
    approved = await api.post(f"/v1/recommendations/{rolled_back.id}/approve", json={"reason": "capture"})
    assert approved.status_code == 202, approved.text
    assert (
        await api.post("/v1/optimizations", json={"customer_id": "demo", "workload_id": "chat-8b"})
    ).is_success
    previewed = await start_pending(api, "rag-embed")
    assert (await api.get(f"/v1/recommendations/{previewed.id}/preview")).status_code == 200
    rejected = await api.post(f"/v1/recommendations/{previewed.id}/reject", json={"reason": "capture"})
    assert rejected.status_code == 202, rejected.text
    joint = await api.post(
        "/v1/joint-optimizations", json={"customer_id": "demo", "workload_id": "batch-summarize"}
    )
    assert joint.status_code == 201, joint.text
    await wait_for_recommendation(api, rolled_back.id, {"executed"}, timeout_s=TIMEOUT_S)
    await client.execute_workflow(
        RollbackWorkflow.run,
        RollbackRequest(recommendation_id=rolled_back.id, reason="capture"),
        id=rollback_workflow_id(rolled_back.id),
        task_queue=task_queue,
    )
    await client.execute_workflow(
        RegressionWatchWorkflow.run,
        RegressionWatchRequest(),
        id="capture/regression-watch",
        task_queue=task_queue,
    )
    await client.execute_workflow(
        FleetScanWorkflow.run,
        FleetScanRequest(customer_id="demo"),
        id="capture/fleet-scan",
        task_queue=task_queue,
    )


async def _runs(client: Client, wanted: list[str]) -> dict[str, str]:
    """Workflow type -> id of its most recent run that completed; of its most recent one still running (a
    joint run waiting for an approval) when none completed within the time allowed."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        completed: dict[str, str] = {}
        running: dict[str, str] = {}
        async for execution in client.list_workflows():
            kind, status = execution.workflow_type, execution.status
            if status == WorkflowExecutionStatus.COMPLETED:
                completed.setdefault(kind, execution.id)
            elif status == WorkflowExecutionStatus.RUNNING:
                running.setdefault(kind, execution.id)
        if set(wanted) <= set(completed) or time.monotonic() > deadline:
            found = {kind: completed.get(kind) or running.get(kind) for kind in wanted}
            missing = sorted(kind for kind, workflow_id in found.items() if workflow_id is None)
            if missing:
                raise RuntimeError(f"no run of {missing} completed or in flight within {TIMEOUT_S} s")
            return {kind: workflow_id for kind, workflow_id in found.items() if workflow_id is not None}
        await asyncio.sleep(2)


async def capture(outdir: Path) -> list[Path]:
    settings = portal_settings(metrics_interval_seconds=5)
    async with running_stack(settings, persistent=False) as running:
        assert running.demo_admin_key is not None
        client = await connect_temporal(running.settings)
        async with httpx.AsyncClient(
            base_url=running.api_url,
            headers={"Authorization": f"Bearer {running.demo_admin_key}"},
            timeout=30,
        ) as api:
            await _exercise(api, client, running.settings.temporal_task_queue)
        written = []
        for workflow_type, workflow_id in sorted((await _runs(client, workflow_types())).items()):
            history = await client.get_workflow_handle(workflow_id).fetch_history()
            stored = {"workflow_id": workflow_id, "history": history.to_json_dict()}
            path = outdir / f"{workflow_type}.json.gz"
            path.write_bytes(gzip.compress(json.dumps(stored).encode(), mtime=0))
            written.append(path)
        return written


def stored_history(path: Path) -> WorkflowHistory:
    stored = json.loads(gzip.decompress(path.read_bytes()))
    return WorkflowHistory.from_json(stored["workflow_id"], stored["history"])


def main() -> None:
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else HISTORIES
    outdir.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(capture(outdir)):
        print(f"{path} ({path.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
