"""The autoscaler step through the Kubernetes activities, against the twin's endpoint over real HTTP: it
puts the HorizontalPodAutoscaler in place, verification reads it back, the twin's controller then scales
the Deployment on the pods' running requests, and the compensation removes it again."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from activities.kube import KubeActivities
from agents.kube_steps import apply_autoscaler_step
from optiinfra.domain.enums import AgentKind, RecommendationType, RiskLevel, StepAction, StepStatus
from optiinfra.domain.kube import DeploymentRef, PodsMetricAutoscaler
from optiinfra.domain.recommendation import Recommendation
from optiinfra.kube.deployments import Deployments
from optiinfra.kube.in_flight import InFlightProbe
from optiinfra.sim.kube import KubeApiServer, KubeCluster, vllm_deployment_manifest
from workflows.contracts import CompensationRequest, StepRequest, VerifyRequest

NS = "inference"
REF = DeploymentRef(namespace=NS, name="chat")
WANTED = PodsMetricAutoscaler(ref=REF, min_replicas=2, max_replicas=6, target_per_pod=4.0)


@pytest.fixture
async def kube() -> AsyncIterator[tuple[KubeCluster, KubeActivities]]:
    cluster = KubeCluster(seed=5)
    cluster.create_deployment(
        vllm_deployment_manifest(NS, "chat", "meta-llama/Llama-3.1-8B-Instruct", "g6e.xlarge", 1, 2)
    )
    with KubeApiServer(cluster) as server:
        deployments = Deployments.for_url(server.url)
        async with httpx.AsyncClient() as http:
            yield cluster, KubeActivities(deployments, InFlightProbe(http, lambda pod: None))
        await deployments.close()


def _recommendation() -> Recommendation:
    return Recommendation(
        agent=AgentKind.PERFORMANCE,
        type=RecommendationType.REPLICA_SCALING,
        title="Autoscale chat",
        reasoning="test",
        estimated_monthly_savings_usd=0.0,
        current_monthly_cost_usd=0.0,
        projected_monthly_cost_usd=0.0,
        confidence=0.6,
        risk_level=RiskLevel.MEDIUM,
        steps=[apply_autoscaler_step(WANTED, None)],
        recommendation_id="r1",
        workflow_id="w1",
        customer_id="demo",
        workload_id="chat",
        created_at=datetime.now(UTC),
    )


async def test_the_step_puts_the_autoscaler_in_place_and_the_compensation_removes_it(
    kube: tuple[KubeCluster, KubeActivities],
) -> None:
    cluster, activities = kube
    env = ActivityEnvironment()
    step = apply_autoscaler_step(WANTED, None)

    done = await env.run(activities.execute_kube_step, StepRequest(step=step))
    assert done.status is StepStatus.SUCCEEDED and "created an autoscaler" in done.detail
    again = await env.run(activities.execute_kube_step, StepRequest(step=step))
    assert "already as wanted" in again.detail
    verified = await env.run(
        activities.verify_kube_execution, VerifyRequest(recommendation=_recommendation())
    )
    assert verified.passed, verified.problems

    # Ten running requests on each of two pods against a target of four: the controller asks for five.
    assert cluster.run_autoscalers(lambda ns, pod, metric: 10.0) == [(NS, "chat", 2, 5)]
    assert cluster.deployment(NS, "chat")["spec"]["replicas"] == 5

    assert step.compensation is not None and step.compensation.action is StepAction.REMOVE_AUTOSCALER
    undone = await env.run(
        activities.compensate_kube_step,
        CompensationRequest(step_id=step.step_id, compensation=step.compensation),
    )
    assert undone.status is StepStatus.COMPENSATED and "removed" in undone.detail
    assert cluster.list_autoscalers(NS)["items"] == []
    failed = await env.run(activities.verify_kube_execution, VerifyRequest(recommendation=_recommendation()))
    assert not failed.passed and "absent" in failed.problems[0]


async def test_a_retune_is_undone_by_putting_the_previous_autoscaler_back(
    kube: tuple[KubeCluster, KubeActivities],
) -> None:
    cluster, activities = kube
    env = ActivityEnvironment()
    await env.run(activities.execute_kube_step, StepRequest(step=apply_autoscaler_step(WANTED, None)))
    lower = WANTED.model_copy(update={"min_replicas": 1})
    retune = apply_autoscaler_step(lower, WANTED)
    await env.run(activities.execute_kube_step, StepRequest(step=retune))
    assert cluster.get_autoscaler(NS, "chat")["spec"]["minReplicas"] == 1

    assert retune.compensation is not None
    await env.run(
        activities.compensate_kube_step,
        CompensationRequest(step_id=retune.step_id, compensation=retune.compensation),
    )
    assert cluster.get_autoscaler(NS, "chat")["spec"]["minReplicas"] == 2
