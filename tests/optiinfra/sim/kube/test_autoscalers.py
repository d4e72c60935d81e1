"""The twin's HorizontalPodAutoscaler (autoscaling/v2) through the official client, and its controller
scaling a Deployment on a per-pod metric as the upstream algorithm does."""

import json
from typing import Any

import pytest
from kubernetes import client

from optiinfra.domain.kube import parse_kube_quantity
from optiinfra.sim.kube import KubeCluster, vllm_deployment_manifest
from optiinfra.sim.kube.autoscaling import metric_recommendation
from tests.optiinfra.sim.kube.conftest import ManualClock

NS = "vllm"
METRIC = "vllm:num_requests_running"


def _deployment(apps: Any, replicas: int = 2) -> None:
    manifest = vllm_deployment_manifest(
        NS, "chat", "meta-llama/Llama-3.1-8B-Instruct", "g5.xlarge", 1, replicas
    )
    apps.create_namespaced_deployment(NS, manifest)


def _hpa(minimum: int = 1, maximum: int = 6, target: str = "4", down_window: int = 300) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "chat"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat"},
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": METRIC},
                        "target": {"type": "AverageValue", "averageValue": target},
                    },
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": down_window}},
        },
    }


@pytest.fixture
def autoscaling(api_client: Any) -> Any:
    return client.AutoscalingV2Api(api_client)


def test_an_autoscaler_is_created_read_replaced_and_deleted(apps: Any, autoscaling: Any) -> None:
    _deployment(apps)
    created = autoscaling.create_namespaced_horizontal_pod_autoscaler(NS, _hpa())
    assert created.spec.max_replicas == 6
    assert created.spec.metrics[0].pods.target.average_value == "4"

    found = autoscaling.read_namespaced_horizontal_pod_autoscaler("chat", NS)
    found.spec.max_replicas = 9
    replaced = autoscaling.replace_namespaced_horizontal_pod_autoscaler("chat", NS, found)
    assert replaced.spec.max_replicas == 9
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    listed = autoscaling.list_namespaced_horizontal_pod_autoscaler(NS)
    assert [item.metadata.name for item in listed.items] == ["chat"]

    autoscaling.delete_namespaced_horizontal_pod_autoscaler("chat", NS)
    with pytest.raises(client.ApiException) as missing:
        autoscaling.read_namespaced_horizontal_pod_autoscaler("chat", NS)
    assert missing.value.status == 404


def test_an_invalid_autoscaler_is_refused_with_the_fields_named(apps: Any, autoscaling: Any) -> None:
    _deployment(apps)
    body = _hpa(minimum=5, maximum=2)
    body["spec"]["metrics"][0]["pods"]["target"]["averageValue"] = "lots"
    with pytest.raises(client.ApiException) as refused:
        autoscaling.create_namespaced_horizontal_pod_autoscaler(NS, body)
    status = json.loads(refused.value.body)
    assert refused.value.status == 422 and status["reason"] == "Invalid"
    assert "spec.maxReplicas" in status["message"] and "averageValue" in status["message"]
    autoscaling.create_namespaced_horizontal_pod_autoscaler(NS, _hpa())
    with pytest.raises(client.ApiException) as twice:
        autoscaling.create_namespaced_horizontal_pod_autoscaler(NS, _hpa())
    assert twice.value.status == 409


def test_the_controller_scales_up_at_once_and_down_only_after_its_window(
    apps: Any, autoscaling: Any, cluster: KubeCluster, clock: ManualClock
) -> None:
    _deployment(apps, replicas=2)
    autoscaling.create_namespaced_horizontal_pod_autoscaler(NS, _hpa(target="4", down_window=300))
    in_flight = {"value": 10.0}

    def read(namespace: str, pod: str, metric: str) -> float | None:
        assert namespace == NS and metric == METRIC
        return in_flight["value"]

    # 2 pods at 10 in flight each against a target of 4: ceil(2 x 10 / 4) = 5.
    assert cluster.run_autoscalers(read) == [(NS, "chat", 2, 5)]
    assert apps.read_namespaced_deployment("chat", NS).spec.replicas == 5
    status = autoscaling.read_namespaced_horizontal_pod_autoscaler("chat", NS).status
    assert status.desired_replicas == 5 and status.last_scale_time is not None

    # Load falls to 1 per pod: the recommendation (2) waits out the 300 s window.
    in_flight["value"] = 1.0
    clock.advance(60)
    assert cluster.run_autoscalers(read) == []
    clock.advance(301)
    assert cluster.run_autoscalers(read) == [(NS, "chat", 5, 2)]

    # Within 10% of the target nothing moves; the bounds hold however high the metric goes.
    in_flight["value"] = 4.3
    clock.advance(30)
    assert cluster.run_autoscalers(read) == []
    in_flight["value"] = 100.0
    assert cluster.run_autoscalers(read) == [(NS, "chat", 2, 6)]


def test_without_readings_the_count_stays() -> None:
    assert metric_recommendation(3, [], 4.0) == 3
    assert metric_recommendation(3, [8.0, 8.0, 8.0], 4.0) == 6
    assert parse_kube_quantity("1500m") == 1.5 and parse_kube_quantity(4) == 4.0
    with pytest.raises(ValueError, match="not a quantity"):
        parse_kube_quantity("four")
