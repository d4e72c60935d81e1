"""The app <-> infra loop end to end, as signals between workflows on the real dev server: the Application
agent reads the Deployment's request log, finds requests longer than its --max-model-len admits, and asks
the Resource agent; the Resource agent's run starts with that request (signal-with-start), answers it with
a --max-model-len rollout that executes on the twin's Kubernetes API once approved, and does not ask back.
A request delivered twice reaches the same run."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.control.optimizations import deliver_agent_request, requested_workflow_id
from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
from optiinfra.domain.enums import AgentKind, DecisionKind, RecommendationType, StepAction, StepStatus
from optiinfra.domain.recommendation import Approval
from optiinfra.kube.vllm_args import flag_value
from optiinfra.privacy.records import TokenRecord
from optiinfra.privacy.tier1 import record_token_records
from tests.support.cloud import SeededCloud
from tests.workflows.conftest import wait_for_phase
from tests.workflows.kube_harness import MODEL, NAME, NAMESPACE, PerformanceHarness, kube_harness
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import AgentRequestDelivery, WorkflowPhase

SHAPES = [(5800, 200), (3000, 40), (1200, 20), (5900, 100), (800, 10)] * 20
NEEDED_WINDOW = 6656
"""The longest request, prompt plus output (6,000 tokens), plus 10%, rounded up to 256 tokens."""


@pytest.fixture
async def loop(
    temporal_client: Client,
    seeded_cloud: SeededCloud,
    harness_store: tuple[str, async_sessionmaker[AsyncSession]],
    tmp_path: Path,
) -> AsyncIterator[PerformanceHarness]:
    _, sessions = harness_store
    now = datetime.now(UTC)
    log = [
        TokenRecord(
            at=now - timedelta(hours=2) + timedelta(seconds=30 * index),
            model="llama-3.1-8b-instruct",
            request_type="chat",
            context_tokens=context,
            generated_tokens=generated,
        )
        for index, (context, generated) in enumerate(SHAPES)
    ]
    async with kube_harness(
        temporal_client, seeded_cloud, sessions, tmp_path, extra_args=["--max-model-len", "4096"]
    ) as harness:
        async with sessions.begin() as session:
            await record_token_records(session=session, customer_id="demo", workload_id=NAME, records=log)
        yield harness


def _args(harness: PerformanceHarness) -> list[str]:
    deployment = harness.twin.cluster.deployment(NAMESPACE, NAME)
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return args


async def test_longer_contexts_than_the_window_ask_the_resource_agent_which_raises_it(
    loop: PerformanceHarness,
) -> None:
    application = await loop.run(AgentKind.APPLICATION)
    app_status = await application.result()
    asked = [note for note in app_status.notes if note.startswith("asked the resource agent")]
    assert len(asked) == 1 and "add_kv_capacity" in asked[0], app_status.notes
    resource_id = requested_workflow_id(
        "demo",
        NAME,
        AgentRequest(
            kind=AgentRequestKind.ADD_KV_CAPACITY,
            from_agent=AgentKind.APPLICATION,
            reason="-",
            source_workflow_id=application.id,
            source_run_id=(await application.describe()).run_id,
        ),
    )
    assert resource_id in asked[0] and resource_id.startswith(f"opt/demo/{NAME}/resource/asked-by/")

    resource = loop.client.get_workflow_handle_for(AgentOptimizationWorkflow.run, resource_id)
    pending = await wait_for_phase(resource, WorkflowPhase.PENDING_APPROVAL, timeout_s=90)
    assert pending.notes[0].startswith(f"asked by the application agent ({application.id})")
    recommendation = pending.recommendation
    assert recommendation is not None and recommendation.type is RecommendationType.CONTEXT_RIGHT_SIZING
    assert recommendation.agent is AgentKind.RESOURCE
    [step] = recommendation.steps
    assert flag_value(json.loads(step.params["args"]), "--max-model-len") == str(NEEDED_WINDOW)
    assert not any(note.startswith("asked the application agent") for note in pending.notes)

    await resource.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="sre@demo")
    )
    final = await resource.result()
    assert final.phase is WorkflowPhase.EXECUTED, final.failure_reason
    assert [(r.action, r.status) for r in final.step_results] == [
        (StepAction.SET_VLLM_ARGS, StepStatus.SUCCEEDED)
    ]
    assert flag_value(_args(loop), "--max-model-len") == str(NEEDED_WINDOW)
    assert flag_value(_args(loop), "--model") == MODEL


async def test_a_request_delivered_twice_reaches_one_run(loop: PerformanceHarness) -> None:
    request = AgentRequest(
        kind=AgentRequestKind.REDUCE_CONTEXT,
        from_agent=AgentKind.RESOURCE,
        reason="memory pressure critical (0.97)",
        context_tokens=2048,
        source_workflow_id=f"opt/demo/{NAME}/resource/41",
        source_run_id=str(uuid4()),
    )
    delivery = AgentRequestDelivery(customer_id="demo", workload_id=NAME, request=request)
    first = await deliver_agent_request(client=loop.client, task_queue=loop.task_queue, delivery=delivery)
    run_group = request.source_run_id.rsplit("-", 1)[-1]
    assert first == f"opt/demo/{NAME}/application/asked-by/resource/41/{run_group}"
    handle = loop.client.get_workflow_handle_for(AgentOptimizationWorkflow.run, first)
    status: Any = await handle.result()
    assert status.notes[0] == f"asked by the resource agent ({request.source_workflow_id}): {request.reason}"
    again = await deliver_agent_request(client=loop.client, task_queue=loop.task_queue, delivery=delivery)
    assert again == first
    runs = [w async for w in loop.client.list_workflows(f"WorkflowId = '{first}'")]
    assert len(runs) == 1
