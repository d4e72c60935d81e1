"""The worker's Prometheus endpoint: a Temporal Runtime serving /metrics on a free port, the harness worker
built on a client of that Runtime, real optimizations on the dev server, then the endpoint scraped and
parsed: OptiInfra's own metrics (runs started and finished, savings executed, compensations, the language
model's tokens and cost from the explanation activity answered by the OpenAI stub, the breaker's state,
recommendations pending) beside the SDK's own.

One Runtime for the module (each binds its port and a thread pool); it is dropped, and its port closed,
when the module's last client and worker are gone."""

import gc
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.runtime import Runtime

from activities.own_metrics import WorkerGauges
from agents.reasoning.breaker import BreakerState
from agents.reasoning.explanations import ExplainProposal
from agents.reasoning.layering import InferenceLayer
from agents.reasoning.tenant import Tenant
from optiinfra.domain.enums import DecisionKind, RecommendationType
from optiinfra.domain.recommendation import Approval
from optiinfra.engine.client import connect_temporal
from optiinfra.engine.devserver import DevServer, free_port
from optiinfra.engine.metrics_runtime import metrics_url, prometheus_runtime
from optiinfra.llm.config import BreakerPolicy, BudgetPolicy, InferenceConfig, TierModel, TokenPrice
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.settings import Settings
from tests.agents.reasoning.proposals import spot_proposal
from tests.support.openai_stub import OpenAIStub, answer, server_error
from tests.workflows.conftest import Harness, wait_for_phase
from workflows.agent_optimization import AgentOptimizationWorkflow
from workflows.contracts import WorkflowPhase

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PRICE = TokenPrice(input_usd_per_1k=0.5, output_usd_per_1k=1.5)
EXPLANATION = json.dumps(
    {
        "summary": "The replicas are larger than their load needs; smaller ones serve it.",
        "key_factors": ["low GPU utilization"],
        "risks": [],
    }
)
AGENT_RUN = "AgentOptimizationWorkflow"


@dataclass(frozen=True)
class Endpoint:
    runtime: Runtime
    url: str


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    address = f"127.0.0.1:{free_port()}"
    yield Endpoint(prometheus_runtime(address), metrics_url(address))
    gc.collect()  # the Runtime goes with the last client on it, and its port with it


@pytest.fixture
async def temporal_client(temporal_dev_server: DevServer, endpoint: Endpoint) -> Client:
    """This module's harness worker runs on the endpoint's Runtime."""
    return await connect_temporal(Settings(), temporal_dev_server.address, runtime=endpoint.runtime)


def _layer(stub: OpenAIStub, *, threshold: int = 3) -> InferenceLayer:
    return InferenceLayer(
        InferenceConfig(
            tiers={
                InferenceTier.MEDIUM: TierModel(
                    client=OpenAIChatClient(
                        base_url=stub.base_url, model="medium-model", api_key="k", timeout_seconds=10
                    ),
                    price=PRICE,
                )
            },
            budget=BudgetPolicy(daily_budget_usd=100.0),
            breaker=BreakerPolicy(failure_threshold=threshold, cooldown_seconds=600),
        )
    )


@pytest.fixture
async def harness_inference(openai_stub: OpenAIStub) -> AsyncIterator[InferenceLayer]:
    """Explanations written by the medium tier, the OpenAI stub."""
    openai_stub.script(answer(EXPLANATION, prompt_tokens=120, completion_tokens=40))
    layer = _layer(openai_stub)
    yield layer
    await layer.aclose()


class Scrape:
    def __init__(self, text: str) -> None:
        self.samples = [s for family in text_string_to_metric_families(text) for s in family.samples]

    def total(self, name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )


async def _scrape(endpoint: Endpoint) -> Scrape:
    async with httpx.AsyncClient() as http:
        response = await http.get(endpoint.url)
    response.raise_for_status()
    return Scrape(response.text)


def _delta(before: Scrape, after: Scrape, name: str, **labels: str) -> float:
    return after.total(name, **labels) - before.total(name, **labels)


@SQLITE
async def test_an_approved_run_is_counted_with_its_savings_tokens_and_the_sdks_metrics(
    harness: Harness, endpoint: Endpoint
) -> None:
    before = await _scrape(endpoint)
    handle = await harness.start("code-assist")
    waiting = await wait_for_phase(handle, WorkflowPhase.PENDING_APPROVAL)
    assert waiting.recommendation is not None

    await handle.signal(
        AgentOptimizationWorkflow.approve, Approval(decision=DecisionKind.APPROVE, approver="ana")
    )
    status = await handle.result()
    assert status.phase is WorkflowPhase.EXECUTED
    recommendation = status.recommendation
    assert recommendation is not None
    after = await _scrape(endpoint)

    run = {"agent": "cost", "mode": "full", "workflow_type": AGENT_RUN}
    assert _delta(before, after, "optiinfra_optimizations_started_total", **run) == 1
    finished = {**run, "type": recommendation.type.value, "outcome": "executed"}
    assert _delta(before, after, "optiinfra_optimizations_finished_total", **finished) == 1
    assert _delta(before, after, "optiinfra_optimizations_finished_total") == 1
    savings = _delta(
        before, after, "optiinfra_savings_executed_usd_total", agent="cost", type=recommendation.type.value
    )
    assert savings == round(recommendation.estimated_monthly_savings_usd) > 0
    assert _delta(before, after, "optiinfra_compensations_total") == 0

    # The explanation, written by the stub's medium tier: its tokens and cost, counted in its activity.
    assert recommendation.explanation is not None
    assert recommendation.explanation.written_by == "medium:medium-model"
    llm = {"tier": "medium", "activity_type": "explain_proposal"}
    assert _delta(before, after, "optiinfra_llm_tokens_total", direction="prompt", **llm) == 120
    assert _delta(before, after, "optiinfra_llm_tokens_total", direction="completion", **llm) == 40
    expected_cost = PRICE.cost_usd(prompt_tokens=120, completion_tokens=40)
    assert _delta(before, after, "optiinfra_llm_cost_usd_sum", **llm) == pytest.approx(expected_cost)
    assert _delta(before, after, "optiinfra_llm_cost_usd_count", **llm) == 1
    assert after.total("optiinfra_llm_circuit_breaker_state", tier="medium") == 0

    # The SDK's own, on the same endpoint.
    assert _delta(before, after, "temporal_workflow_completed_total", workflow_type=AGENT_RUN) >= 1
    assert after.total("temporal_request_total") > 0


@SQLITE
async def test_a_failed_launch_counts_each_compensation_and_a_rolled_back_run(
    harness: Harness, endpoint: Endpoint
) -> None:
    """As test_agent_optimization's: the second replacement cannot launch, and the saga undoes the rest."""
    launches = {"seen": 0}

    def no_capacity_after_the_first_launch(params: dict[str, Any], **_: Any) -> None:
        launches["seen"] += 1
        if launches["seen"] > 1:
            raise ClientError(
                {"Error": {"Code": "InsufficientInstanceCapacity", "Message": "no capacity"}}, "RunInstances"
            )

    harness.fleet.ec2.meta.events.register(
        "before-parameter-build.ec2.RunInstances", no_capacity_after_the_first_launch
    )
    before = await _scrape(endpoint)
    status = await (await harness.start("chat-8b")).result()
    assert status.phase is WorkflowPhase.ROLLED_BACK
    after = await _scrape(endpoint)

    compensations = {"workflow_type": AGENT_RUN, "outcome": "succeeded"}
    assert _delta(before, after, "optiinfra_compensations_total", **compensations) == 3
    assert _delta(before, after, "optiinfra_compensations_total", outcome="failed") == 0
    assert _delta(before, after, "optiinfra_compensations_total", action="start_instance") == 1
    assert status.recommendation is not None
    assert status.recommendation.type is RecommendationType.RIGHT_SIZING
    finished = {"agent": "cost", "type": "right_sizing", "outcome": "rolled_back"}
    assert _delta(before, after, "optiinfra_optimizations_finished_total", **finished) == 1
    assert _delta(before, after, "optiinfra_savings_executed_usd_total") == 0


async def test_an_open_breaker_shows_on_the_gauge(openai_stub: OpenAIStub, endpoint: Endpoint) -> None:
    """One failed call opens a breaker of threshold 1; the worker's gauge then reads 2 for the tier."""
    openai_stub.script(server_error())
    layer = _layer(openai_stub, threshold=1)
    gauges = WorkerGauges(endpoint.runtime.metric_meter)
    try:
        gauges.breakers_of(layer)
        assert (await _scrape(endpoint)).total("optiinfra_llm_circuit_breaker_state", tier="medium") == 0
        inference = await layer.answer(ExplainProposal(spot_proposal()), tenant=Tenant(customer_id="demo"))
        assert inference.usage.fell_back_to_rules
        gauges.breakers_of(layer)
        assert (await _scrape(endpoint)).total("optiinfra_llm_circuit_breaker_state", tier="medium") == 2
    finally:
        gauges.breakers({InferenceTier.MEDIUM: BreakerState.CLOSED})  # as the next test's worker starts
        await layer.aclose()
