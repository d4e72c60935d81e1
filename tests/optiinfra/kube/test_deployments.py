"""The Deployments adapter through the official client, over HTTP, against the twin's endpoint."""

import pickle
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.config import kube_config
from pydantic import SecretStr

from optiinfra.domain.kube import DELETION_COST_ANNOTATION, SERVE_LABEL, DeploymentRef
from optiinfra.kube.deployments import Deployments, KubeActionError, ScaleChange
from optiinfra.kube.vllm_args import flag_value, with_flag
from optiinfra.settings import Settings
from optiinfra.sim.kube import KubeApiServer, KubeCluster, vllm_deployment_manifest
from tests.optiinfra.sim.kube.conftest import ManualClock

NS = "vllm"
REF = DeploymentRef(namespace=NS, name="chat")
MODEL = "meta-llama/Llama-3.1-70B-Instruct"


def _seed(cluster: KubeCluster, name: str = "chat", replicas: int = 3, gpus: int = 4) -> dict[str, Any]:
    return cluster.create_deployment(
        vllm_deployment_manifest(NS, name, MODEL, "p4d.24xlarge", gpus, replicas)
    )


def _writes(cluster: KubeCluster) -> list[tuple[str, str]]:
    return [(e.verb, e.path) for e in cluster.events if e.verb in ("PATCH", "PUT", "POST", "DELETE")]


async def test_read_parses_the_deployment_and_its_pods(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster)
    manifest = vllm_deployment_manifest(NS, "other", MODEL, "g5.xlarge", 1, 2)
    manifest["spec"]["template"]["spec"]["containers"].insert(0, {"name": "proxy", "image": "envoy:1"})
    cluster.create_deployment(manifest)
    state = await deployments.read(REF)
    assert state.ref == REF
    assert (state.replicas, state.ready_replicas, state.updated_replicas, state.available_replicas) == (
        3,
        3,
        3,
        3,
    )
    assert state.generation == state.observed_generation == 1
    assert state.container == "vllm"
    assert flag_value(state.args, "--model") == MODEL
    assert flag_value(state.args, "--tensor-parallel-size") == "4"
    assert state.gpus_per_replica == 4
    assert state.node_instance_type == "p4d.24xlarge"
    assert state.resource_version == cluster.deployment(NS, "chat")["metadata"]["resourceVersion"]
    assert state.rolled_out
    assert sorted(p.name for p in state.pods) == sorted(
        p["metadata"]["name"] for p in cluster.pods(NS, {"app.kubernetes.io/name": "chat"})
    )
    for pod in state.pods:
        assert pod.ready and pod.serving
        assert pod.phase == "Running"
        assert pod.node_name is not None and pod.node_name.startswith("twin-p4d-24xlarge-")
        assert pod.pod_ip == "127.0.0.1"
        assert pod.deletion_cost is None
        assert pod.template_hash is not None and pod.name.startswith(f"chat-{pod.template_hash}-")
        assert pod.created_at is not None and pod.created_at.timestamp() == pytest.approx(
            1_760_000_000, abs=1
        )
        assert pod.args == state.args
    other = await deployments.read(DeploymentRef(namespace=NS, name="other"))
    assert other.container == "vllm", "the vLLM container is found by name, not position"
    assert other.gpus_per_replica == 1


async def test_pods_of_another_deployment_with_an_overlapping_selector_are_left_out(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    for name in ("chat", "shadow"):
        manifest = vllm_deployment_manifest(NS, name, MODEL, "g5.xlarge", 1, 2)
        shared = {"app": "shared"}
        manifest["spec"]["selector"] = {"matchLabels": shared}
        manifest["spec"]["template"]["metadata"]["labels"] = {**shared, SERVE_LABEL: "true"}
        cluster.create_deployment(manifest)
    state = await deployments.read(REF)
    assert len(cluster.pods(NS, "app=shared")) == 4
    assert len(state.pods) == 2
    assert all(pod.name.startswith("chat-") for pod in state.pods)


async def test_scale_is_idempotent_and_uses_the_scale_subresource(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster, replicas=4)
    change = await deployments.scale(REF, 3)
    assert change == ScaleChange(ref=REF, previous=4, replicas=3)
    assert change.changed
    assert change.summary == "scaled vllm/chat from 4 to 3 replicas"
    assert change.model_dump()["summary"] == change.summary
    assert len(cluster.pods(NS)) == 3
    assert _writes(cluster) == [("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/chat/scale")]
    again = await deployments.scale(REF, 3)
    assert (again.previous, again.replicas, again.changed) == (3, 3, False)
    assert again.summary == "vllm/chat already at 3 replicas"
    assert len(_writes(cluster)) == 1, "already at target: nothing written"
    with pytest.raises(ValueError, match="negative"):
        await deployments.scale(REF, -1)


async def test_a_failed_write_is_a_retryable_error_and_a_retry_succeeds(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster, replicas=2)
    cluster.fail_next("PATCH", "*/deployments/chat/scale")
    with pytest.raises(KubeActionError) as raised:
        await deployments.scale(REF, 5)
    error = raised.value
    assert (error.code, error.status, error.retryable) == ("InternalError", 500, True)
    assert "scale vllm/chat to 5" in error.message
    assert cluster.deployment(NS, "chat")["spec"]["replicas"] == 2
    assert (await deployments.scale(REF, 5)).previous == 2
    assert len(cluster.pods(NS)) == 5
    cluster.fail_next("GET", "*/deployments/chat/scale", status=429, reason="TooManyRequests")
    with pytest.raises(KubeActionError) as raised:
        await deployments.scale(REF, 1)
    assert raised.value.retryable


async def test_scale_rereads_and_retries_a_conflict(deployments: Deployments, cluster: KubeCluster) -> None:
    _seed(cluster, replicas=2)
    cluster.fail_next("PATCH", "*/scale", status=409, reason="Conflict")
    assert (await deployments.scale(REF, 3)).previous == 2
    statuses = [e.status for e in cluster.events if e.verb == "PATCH"]
    assert statuses == [409, 200]
    cluster.fail_next("PATCH", "*/scale", status=409, reason="Conflict", times=3)
    with pytest.raises(KubeActionError) as raised:
        await deployments.scale(REF, 4)
    assert (raised.value.code, raised.value.status, raised.value.retryable) == ("Conflict", 409, True)
    assert cluster.deployment(NS, "chat")["spec"]["replicas"] == 3


async def test_errors_that_retrying_cannot_fix(deployments: Deployments, cluster: KubeCluster) -> None:
    with pytest.raises(KubeActionError) as raised:
        await deployments.read(DeploymentRef(namespace=NS, name="missing"))
    assert (raised.value.code, raised.value.status, raised.value.retryable) == ("NotFound", 404, False)
    cluster.fail_next("PATCH", "*", status=403, reason="Forbidden")
    _seed(cluster, replicas=1)
    with pytest.raises(KubeActionError) as raised:
        await deployments.scale(REF, 2)
    assert (raised.value.code, raised.value.retryable) == ("Forbidden", False)
    restored = pickle.loads(pickle.dumps(raised.value))
    assert (restored.code, restored.message, restored.retryable, restored.status) == (
        "Forbidden",
        raised.value.message,
        False,
        403,
    )


async def test_set_args_with_the_wrong_expectation_fails_loudly_and_changes_nothing(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster)
    before = await deployments.read(REF)
    wanted = with_flag(before.args, "--max-num-seqs", 128)
    stale = with_flag(before.args, "--max-num-seqs", 64)
    with pytest.raises(KubeActionError) as raised:
        await deployments.set_args(REF, wanted, expected=stale)
    assert (raised.value.code, raised.value.status, raised.value.retryable) == ("Invalid", 422, False)
    after = await deployments.read(REF)
    assert after.args == before.args
    assert after.generation == before.generation
    assert {p.name for p in after.pods} == {p.name for p in before.pods}
    with pytest.raises(KubeActionError) as raised:
        await deployments.set_args(REF, wanted, container="sidecar")
    assert (raised.value.code, raised.value.retryable) == ("ContainerNotFound", False)


async def test_set_args_patches_the_template_and_is_idempotent(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster)
    before = await deployments.read(REF)
    wanted = with_flag(before.args, "--max_num_seqs", 128)
    change = await deployments.set_args(REF, wanted, expected=before.args)
    assert change.changed
    assert (change.container, change.previous, change.args) == ("vllm", before.args, wanted)
    assert change.summary == (
        "changed args of container vllm in vllm/chat: --max-num-seqs 256 -> 128 (rolling update started)"
    )
    after = await deployments.read(REF)
    assert after.args == wanted
    assert after.generation == before.generation + 1
    assert after.rolled_out, "with pods ready at once the rollout completes on the next reconcile"
    assert all(pod.args == wanted for pod in after.pods)
    assert {p.name for p in after.pods}.isdisjoint({p.name for p in before.pods})
    writes = len(_writes(cluster))
    again = await deployments.set_args(REF, wanted, expected=before.args)
    assert not again.changed
    assert again.summary == "args of container vllm in vllm/chat already as wanted"
    assert len(_writes(cluster)) == writes, "already as wanted: nothing written"


async def test_wait_rolled_out_times_out_on_a_frozen_clock_and_succeeds_as_it_advances(
    clock: ManualClock, deployments: Deployments, cluster: KubeCluster
) -> None:
    cluster.ready_delay_s = 60.0
    _seed(cluster, replicas=4)
    clock.advance(60)
    state = await deployments.read(REF)
    assert state.rolled_out
    await deployments.set_args(REF, with_flag(state.args, "--max-num-seqs", 96))
    with pytest.raises(KubeActionError) as raised:
        await deployments.wait_rolled_out(REF, timeout_s=0.3, poll_s=0.05)
    assert (raised.value.code, raised.value.retryable) == ("RolloutTimeout", False)
    assert "not rolled out within 0.3s" in raised.value.message
    assert "generation 2 observed 2" in raised.value.message
    polled: list[int] = []

    def advance(state: Any) -> None:
        polled.append(state.ready_replicas)
        clock.advance(20)

    cluster.fail_next("GET", "*/deployments/chat", status=503, reason="ServiceUnavailable")
    done = await deployments.wait_rolled_out(REF, timeout_s=10, poll_s=0.01, on_poll=advance)
    assert done.rolled_out
    assert len(polled) >= 4, "the rollout needed several clock steps"
    assert all(ready >= 3 for ready in polled), "maxUnavailable 25% of 4 kept 3 ready throughout"
    assert all(flag_value(pod.args, "--max-num-seqs") == "96" for pod in done.pods)


async def test_wait_rolled_out_raises_non_retryable_errors_at_once(deployments: Deployments) -> None:
    with pytest.raises(KubeActionError) as raised:
        await deployments.wait_rolled_out(REF, timeout_s=5, poll_s=0.01)
    assert raised.value.code == "NotFound"


async def test_set_serving_drains_pods_so_scale_down_removes_exactly_them(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster, replicas=4)
    pods = [p.name for p in (await deployments.read(REF)).pods]
    drained = [pods[0], pods[2]]
    assert await deployments.set_serving(REF, drained, serving=False) == drained
    assert await deployments.set_serving(REF, drained, serving=False) == [], "idempotent"
    state = await deployments.read(REF)
    by_name = {p.name: p for p in state.pods}
    assert [by_name[name].serving for name in pods] == [False, True, False, True]
    assert by_name[pods[0]].deletion_cost == -1000
    assert cluster.pod(NS, pods[0])["metadata"]["labels"][SERVE_LABEL] == "false"
    assert len(state.pods) == 4, "draining does not orphan pods"
    await deployments.scale(REF, 2)
    assert sorted(p.name for p in (await deployments.read(REF)).pods) == sorted([pods[1], pods[3]])
    assert await deployments.set_serving(REF, [pods[0]], serving=True) == [], "a pod that is gone is skipped"


async def test_set_serving_restores(deployments: Deployments, cluster: KubeCluster) -> None:
    _seed(cluster, replicas=2)
    name = (await deployments.read(REF)).pods[0].name
    await deployments.set_serving(REF, [name], serving=False)
    assert await deployments.set_serving(REF, [name, name], serving=True) == [name]
    metadata = cluster.pod(NS, name)["metadata"]
    assert metadata["labels"][SERVE_LABEL] == "true"
    assert DELETION_COST_ANNOTATION not in metadata.get("annotations", {})
    assert await deployments.set_serving(REF, [name], serving=True) == []


async def test_set_serving_refuses_pods_of_another_deployment(
    deployments: Deployments, cluster: KubeCluster
) -> None:
    _seed(cluster, replicas=1)
    _seed(cluster, name="embed", replicas=1)
    foreign = cluster.pods(NS, {"app.kubernetes.io/name": "embed"})[0]["metadata"]["name"]
    with pytest.raises(KubeActionError) as raised:
        await deployments.set_serving(REF, [foreign], serving=False)
    assert (raised.value.code, raised.value.retryable) == ("PodNotInDeployment", False)
    assert cluster.pod(NS, foreign)["metadata"]["labels"][SERVE_LABEL] == "true"


async def test_from_settings_with_an_api_url_and_token(cluster: KubeCluster) -> None:
    _seed(cluster, replicas=1)
    default_host = client.Configuration.get_default_copy().host
    with KubeApiServer(cluster, token="t0ken") as server:
        adapter = Deployments.from_settings(
            Settings(kube_api_url=server.url, kube_api_token=SecretStr("t0ken"))
        )
        assert (await adapter.read(REF)).replicas == 1
        await adapter.close()
        anonymous = Deployments.from_settings(Settings(kube_api_url=server.url))
        with pytest.raises(KubeActionError) as raised:
            await anonymous.read(REF)
        assert (raised.value.code, raised.value.status, raised.value.retryable) == (
            "Unauthorized",
            401,
            False,
        )
        await anonymous.close()
    assert client.Configuration.get_default_copy().host == default_host, "the global default is untouched"


async def test_from_settings_with_a_kubeconfig_context(
    cluster: KubeCluster, server: KubeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(cluster, replicas=2)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        f"""
apiVersion: v1
kind: Config
current-context: dead
clusters:
- name: twin
  cluster: {{server: "{server.url}"}}
- name: dead
  cluster: {{server: "http://127.0.0.1:9"}}
users:
- name: dev
  user: {{token: "abc"}}
contexts:
- name: twin
  context: {{cluster: twin, user: dev}}
- name: dead
  context: {{cluster: dead, user: dev}}
"""
    )
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    default_host = client.Configuration.get_default_copy().host
    adapter = Deployments.from_settings(Settings(kube_api_url="", kube_context="twin"))
    assert (await adapter.read(REF)).replicas == 2
    await adapter.close()
    assert client.Configuration.get_default_copy().host == default_host != server.url


async def test_an_unreachable_api_server_is_retryable() -> None:
    server = KubeApiServer()
    url = server.url
    server.stop()
    adapter = Deployments.for_url(url)
    with pytest.raises(KubeActionError) as raised:
        await adapter.read(REF)
    assert (raised.value.code, raised.value.retryable) == ("Unreachable", True)
    await adapter.close()
