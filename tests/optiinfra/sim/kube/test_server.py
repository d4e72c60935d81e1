"""The twin's Kubernetes endpoint answers the official client over real HTTP, with the API's semantics."""

import json
import time
from typing import Any

import httpx
import pytest
from kubernetes import client
from urllib3.exceptions import HTTPError

from optiinfra.sim.kube import KubeApiServer, KubeCluster, vllm_deployment_manifest
from optiinfra.sim.kube.manifests import NAME_LABEL

NS = "vllm"


def _create(apps: Any, name: str = "chat", replicas: int = 2, **kwargs: Any) -> Any:
    manifest = vllm_deployment_manifest(
        NS, name, "meta-llama/Llama-3.1-8B-Instruct", "g5.xlarge", 1, replicas, **kwargs
    )
    return apps.create_namespaced_deployment(NS, manifest)


def _status_of(error: client.ApiException) -> tuple[int, str]:
    body = json.loads(error.body or "")
    assert body["kind"] == "Status"
    assert body["status"] == "Failure"
    assert body["code"] == error.status
    return error.status, body["reason"]


def test_server_starts_fast_on_a_free_port_and_stops() -> None:
    started = time.perf_counter()
    server = KubeApiServer()
    assert time.perf_counter() - started < 0.5
    assert server.url.startswith("http://127.0.0.1:")
    assert not server.url.endswith(":0")
    config = client.Configuration(host=server.url, retries=False)
    with client.ApiClient(config) as api:
        version = client.VersionApi(api).get_code()
        assert version.major == "1"
        assert version.git_version.startswith("v1.")
        server.stop()
        with pytest.raises(HTTPError):
            client.VersionApi(api).get_code()
    server.stop()  # idempotent


def test_create_read_and_list_with_label_selector(apps: Any, cluster: KubeCluster) -> None:
    created = _create(apps, "chat")
    assert created.metadata.generation == 1
    assert created.metadata.uid
    assert created.spec.strategy.rolling_update.max_surge == "25%"
    _create(apps, "embed", replicas=1)
    read = apps.read_namespaced_deployment("chat", NS)
    assert read.spec.template.spec.containers[0].args[:2] == ["--model", "meta-llama/Llama-3.1-8B-Instruct"]
    assert read.status.replicas == read.status.ready_replicas == read.status.available_replicas == 2
    assert read.status.observed_generation == 1
    assert read.metadata.annotations["deployment.kubernetes.io/revision"] == "1"
    names = [d.metadata.name for d in apps.list_namespaced_deployment(NS).items]
    assert names == ["chat", "embed"]
    selected = apps.list_namespaced_deployment(NS, label_selector=f"{NAME_LABEL}=embed").items
    assert [d.metadata.name for d in selected] == ["embed"]
    assert apps.list_namespaced_deployment("other").items == []
    with pytest.raises(client.ApiException) as raised:
        _create(apps, "chat")
    assert _status_of(raised.value) == (409, "AlreadyExists")
    assert cluster.deployment(NS, "chat")["metadata"]["name"] == "chat"


def test_unknown_objects_and_paths_are_404(apps: Any, core: Any, server: KubeApiServer) -> None:
    with pytest.raises(client.ApiException) as raised:
        apps.read_namespaced_deployment("nope", NS)
    assert _status_of(raised.value) == (404, "NotFound")
    with pytest.raises(client.ApiException) as raised:
        core.delete_namespaced_pod("nope", NS)
    assert _status_of(raised.value) == (404, "NotFound")
    assert httpx.get(f"{server.url}/apis/batch/v1/namespaces/x/jobs").status_code == 404


def test_scale_through_the_subresource(apps: Any, core: Any) -> None:
    _create(apps, replicas=2)
    scale = apps.read_namespaced_deployment_scale("chat", NS)
    assert scale.kind == "Scale"
    assert scale.spec.replicas == 2
    assert scale.status.selector == f"{NAME_LABEL}=chat"
    patched = apps.patch_namespaced_deployment_scale("chat", NS, {"spec": {"replicas": 4}})
    assert patched.spec.replicas == 4
    assert len(core.list_namespaced_pod(NS, label_selector=f"{NAME_LABEL}=chat").items) == 4
    deployment = apps.read_namespaced_deployment("chat", NS)
    assert deployment.spec.replicas == 4
    assert deployment.metadata.generation == 2
    assert deployment.status.observed_generation == 2
    with pytest.raises(client.ApiException) as raised:
        apps.replace_namespaced_deployment_scale("chat", NS, scale)  # read before the patch: stale
    assert _status_of(raised.value) == (409, "Conflict")
    with pytest.raises(client.ApiException) as raised:
        apps.patch_namespaced_deployment_scale("chat", NS, {"spec": {"replicas": -1}})
    assert _status_of(raised.value) == (422, "Invalid")
    apps.patch_namespaced_deployment_scale("chat", NS, {"spec": {"replicas": 0}})
    assert apps.read_namespaced_deployment_scale("chat", NS).spec.replicas in (0, None)
    assert core.list_namespaced_pod(NS).items == []


def test_strategic_merge_patch_is_what_a_dict_body_sends(apps: Any, core: Any) -> None:
    _create(apps)
    before = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    patched = apps.patch_namespaced_deployment(
        "chat",
        NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "vllm", "args": ["--model", "m"]}]}}}},
    )
    container = patched.spec.template.spec.containers[0]
    assert container.args == ["--model", "m"]
    assert container.image == "vllm/vllm-openai:v0.11.0", "the containers list merged on name"
    assert patched.metadata.generation == 2
    assert patched.status.observed_generation == 1, "the response is the object as written"
    after = core.list_namespaced_pod(NS).items
    assert {p.metadata.name for p in after}.isdisjoint(before), "the template change rolled every pod"
    assert all(p.spec.containers[0].args == ["--model", "m"] for p in after)


def test_merge_patch_on_request(apps: Any) -> None:
    _create(apps)
    patched = apps.patch_namespaced_deployment(
        "chat",
        NS,
        {"metadata": {"labels": {"team": "ml"}}, "spec": {"minReadySeconds": 5}},
        _content_type="application/merge-patch+json",
    )
    assert patched.metadata.labels == {NAME_LABEL: "chat", "team": "ml"}
    assert patched.spec.min_ready_seconds == 5


def test_json_patch_is_what_a_list_body_sends_and_a_failed_test_is_422(apps: Any) -> None:
    _create(apps)
    path = "/spec/template/spec/containers/0/args"
    original = apps.read_namespaced_deployment("chat", NS).spec.template.spec.containers[0].args
    with pytest.raises(client.ApiException) as raised:
        apps.patch_namespaced_deployment(
            "chat",
            NS,
            [{"op": "test", "path": path, "value": ["x"]}, {"op": "replace", "path": path, "value": []}],
        )
    assert _status_of(raised.value) == (422, "Invalid")
    unchanged = apps.read_namespaced_deployment("chat", NS)
    assert unchanged.spec.template.spec.containers[0].args == original
    assert unchanged.metadata.generation == 1
    patched = apps.patch_namespaced_deployment(
        "chat",
        NS,
        [
            {"op": "test", "path": path, "value": original},
            {"op": "replace", "path": path, "value": ["--model", "y"]},
        ],
    )
    assert patched.spec.template.spec.containers[0].args == ["--model", "y"]


def test_put_with_a_stale_resource_version_is_409(apps: Any) -> None:
    _create(apps)
    stale = apps.read_namespaced_deployment("chat", NS)
    fresh = apps.read_namespaced_deployment("chat", NS)
    fresh.spec.min_ready_seconds = 3
    updated = apps.replace_namespaced_deployment("chat", NS, fresh)
    assert int(updated.metadata.resource_version) > int(stale.metadata.resource_version)
    assert updated.metadata.generation == 2
    stale.spec.min_ready_seconds = 9
    with pytest.raises(client.ApiException) as raised:
        apps.replace_namespaced_deployment("chat", NS, stale)
    assert _status_of(raised.value) == (409, "Conflict")
    assert apps.read_namespaced_deployment("chat", NS).spec.min_ready_seconds == 3
    with pytest.raises(client.ApiException) as raised:
        apps.patch_namespaced_deployment(
            "chat",
            NS,
            {"metadata": {"resourceVersion": stale.metadata.resource_version}, "spec": {"replicas": 1}},
        )
    assert _status_of(raised.value) == (409, "Conflict")


def test_invalid_writes_are_422(apps: Any) -> None:
    _create(apps)
    with pytest.raises(client.ApiException) as raised:
        apps.patch_namespaced_deployment("chat", NS, {"spec": {"selector": {"matchLabels": {"other": "x"}}}})
    assert _status_of(raised.value) == (422, "Invalid")
    with pytest.raises(client.ApiException) as raised:
        apps.patch_namespaced_deployment(
            "chat", NS, [{"op": "replace", "path": "/spec/template/spec/containers/0/args", "value": [1]}]
        )
    assert _status_of(raised.value) == (422, "Invalid")


def test_unknown_patch_content_type_is_415(server: KubeApiServer, apps: Any) -> None:
    _create(apps)
    for content_type in ("application/apply-patch+yaml", "text/plain", "application/json"):
        response = httpx.patch(
            f"{server.url}/apis/apps/v1/namespaces/{NS}/deployments/chat",
            content=b'{"spec": {"replicas": 5}}',
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 415
        assert response.json()["reason"] == "UnsupportedMediaType"
    merge = httpx.patch(
        f"{server.url}/apis/apps/v1/namespaces/{NS}/deployments/chat/scale",
        content=b'{"spec": {"replicas": 3}}',
        headers={"Content-Type": "application/merge-patch+json; charset=utf-8"},
    )
    assert merge.status_code == 200
    assert merge.json()["spec"]["replicas"] == 3


def test_pods_list_patch_and_delete(apps: Any, core: Any, cluster: KubeCluster) -> None:
    _create(apps, replicas=3)
    pods = core.list_namespaced_pod(NS, label_selector=f"{NAME_LABEL}=chat,optiinfra.io/serve=true").items
    assert len(pods) == 3
    pod = pods[0]
    assert pod.status.phase == "Running"
    assert pod.status.pod_ip == "127.0.0.1"
    assert pod.spec.node_name.startswith("twin-g5-xlarge-")
    assert pod.metadata.owner_references[0].kind == "ReplicaSet"
    assert [c.status for c in pod.status.conditions if c.type == "Ready"] == ["True"]
    drained = core.patch_namespaced_pod(
        pod.metadata.name,
        NS,
        {
            "metadata": {
                "labels": {"optiinfra.io/serve": "false"},
                "annotations": {"controller.kubernetes.io/pod-deletion-cost": "-1000"},
            }
        },
    )
    assert drained.metadata.labels["optiinfra.io/serve"] == "false"
    serving = core.list_namespaced_pod(NS, label_selector="optiinfra.io/serve!=false").items
    assert pod.metadata.name not in {p.metadata.name for p in serving}
    assert len(core.list_namespaced_pod(NS).items) == 3, "flipping the serve label does not orphan the pod"
    assert core.read_namespaced_pod(pod.metadata.name, NS).metadata.owner_references
    with pytest.raises(client.ApiException) as raised:
        core.patch_namespaced_pod(pod.metadata.name, NS, {"spec": {"nodeName": "elsewhere"}})
    assert _status_of(raised.value) == (422, "Invalid")
    deleted = core.delete_namespaced_pod(pod.metadata.name, NS)
    assert deleted.metadata.name == pod.metadata.name
    after = {p.metadata.name for p in core.list_namespaced_pod(NS).items}
    assert len(after) == 3, "the ReplicaSet replaced the deleted pod"
    assert pod.metadata.name not in after
    assert ("DELETE", f"/api/v1/namespaces/{NS}/pods/{pod.metadata.name}", 200) in cluster.events


def test_injected_faults_fail_matching_requests_without_side_effects(apps: Any, cluster: KubeCluster) -> None:
    _create(apps, replicas=2)
    cluster.fail_next("PATCH", "*/deployments/chat/scale", after=1)
    apps.patch_namespaced_deployment_scale("chat", NS, {"spec": {"replicas": 3}})
    with pytest.raises(client.ApiException) as raised:
        apps.patch_namespaced_deployment_scale("chat", NS, {"spec": {"replicas": 4}})
    assert _status_of(raised.value) == (500, "InternalError")
    assert apps.read_namespaced_deployment("chat", NS).spec.replicas == 3
    apps.patch_namespaced_deployment_scale("chat", NS, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("chat", NS).spec.replicas == 4
    cluster.fail_next(
        "GET", "/apis/apps/v1/namespaces/*/deployments/chat", status=429, reason="TooManyRequests", times=2
    )
    for _ in range(2):
        with pytest.raises(client.ApiException) as raised:
            apps.read_namespaced_deployment("chat", NS)
        assert _status_of(raised.value) == (429, "TooManyRequests")
    apps.read_namespaced_deployment("chat", NS)
    scale_patches = [e.status for e in cluster.events if e.verb == "PATCH" and e.path.endswith("/scale")]
    assert scale_patches == [200, 500, 200]


def test_a_token_is_required_when_configured() -> None:
    with KubeApiServer(token="s3cret") as server:
        anonymous = httpx.get(f"{server.url}/version")
        assert anonymous.status_code == 401
        assert anonymous.json()["reason"] == "Unauthorized"
        config = client.Configuration(host=server.url)
        config.api_key = {"authorization": "s3cret"}
        config.api_key_prefix = {"authorization": "Bearer"}
        with client.ApiClient(config) as api:
            assert client.VersionApi(api).get_code().major == "1"
