"""The autoscaler adapter against the twin's autoscaling/v2 endpoint over real HTTP."""

import pytest

from optiinfra.domain.kube import DeploymentRef, PodsMetricAutoscaler
from optiinfra.kube.autoscalers import Autoscalers
from optiinfra.kube.deployments import Deployments, KubeActionError
from optiinfra.sim.kube import KubeCluster, vllm_deployment_manifest

NS = "inference"
REF = DeploymentRef(namespace=NS, name="chat")


def _seed(cluster: KubeCluster) -> None:
    cluster.create_deployment(
        vllm_deployment_manifest(NS, "chat", "meta-llama/Llama-3.1-8B-Instruct", "g6e.xlarge", 1, 3)
    )


def _wanted(minimum: int = 2, maximum: int = 8, target: float = 6.5) -> PodsMetricAutoscaler:
    return PodsMetricAutoscaler(ref=REF, min_replicas=minimum, max_replicas=maximum, target_per_pod=target)


async def test_apply_creates_then_changes_then_finds_nothing_to_do(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster)
    autoscalers = Autoscalers(deployments)
    assert await autoscalers.read(REF) is None

    created = await autoscalers.apply(_wanted())
    assert created.previous is None and created.changed
    assert await autoscalers.read(REF) == _wanted()
    raw = cluster.get_autoscaler(NS, "chat")
    assert raw["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "6500m"

    changed = await autoscalers.apply(_wanted(minimum=3))
    assert changed.previous == _wanted() and changed.current == _wanted(minimum=3)
    again = await autoscalers.apply(_wanted(minimum=3))
    assert not again.changed and "already" in again.summary

    removed = await autoscalers.remove(REF)
    assert removed.previous == _wanted(minimum=3) and removed.current is None
    assert not (await autoscalers.remove(REF)).changed


async def test_an_autoscaler_of_another_shape_is_reported_and_left_alone(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster)
    foreign = _wanted().manifest()
    foreign["spec"]["metrics"].append(foreign["spec"]["metrics"][0])
    cluster.create_autoscaler(NS, foreign)
    autoscalers = Autoscalers(deployments)

    found = await autoscalers.read(REF)
    assert isinstance(found, str) and "Pods, Pods" in found
    with pytest.raises(KubeActionError) as refused:
        await autoscalers.apply(_wanted())
    assert refused.value.code == "Foreign" and not refused.value.retryable
    with pytest.raises(KubeActionError):
        await autoscalers.remove(REF)
    assert len(cluster.get_autoscaler(NS, "chat")["spec"]["metrics"]) == 2


def test_bounds_are_checked_where_the_autoscaler_is_described() -> None:
    with pytest.raises(ValueError, match="below min_replicas"):
        _wanted(minimum=5, maximum=2)
