"""The emulated Deployment and ReplicaSet controllers: pod naming, scale-down order, rolling updates on the
injected clock, generations, hooks and fault bookkeeping."""

from typing import Any

import pytest

from optiinfra.domain.kube import DELETION_COST_ANNOTATION, POD_TEMPLATE_HASH_LABEL, SERVE_LABEL
from optiinfra.sim.kube import ApiError, KubeCluster, template_hash, vllm_deployment_manifest
from optiinfra.sim.kube.patch import JSON_PATCH, STRATEGIC_MERGE_PATCH
from tests.optiinfra.sim.kube.conftest import ManualClock

NS = "vllm"
ARGS_PATH = "/spec/template/spec/containers/0/args"


def _manifest(name: str = "chat", replicas: int = 4, **strategy: Any) -> dict[str, Any]:
    manifest = vllm_deployment_manifest(NS, name, "Qwen/Qwen2.5-7B-Instruct", "g6.2xlarge", 1, replicas)
    if strategy:
        manifest["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": strategy}
    return manifest


def _hashes(cluster: KubeCluster) -> list[str]:
    return [pod["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] for pod in cluster.pods(NS)]


def _ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"]["conditions"])


def _set_args(cluster: KubeCluster, args: list[str]) -> dict[str, Any]:
    return cluster.patch_deployment(
        NS, "chat", JSON_PATCH, [{"op": "replace", "path": ARGS_PATH, "value": args}]
    )


def test_pods_are_created_from_the_template(cluster: KubeCluster) -> None:
    created: list[tuple[str, str, str]] = []
    cluster.on_pod_created = lambda pod, deployment, ns: created.append((pod, deployment, ns))
    deployment = cluster.create_deployment(_manifest(replicas=3))
    pod_hash = template_hash(cluster.deployment(NS, "chat")["spec"]["template"])
    pods = cluster.pods(NS)
    assert len(pods) == 3
    for pod in pods:
        name = pod["metadata"]["name"]
        prefix, suffix = name.rsplit("-", 1)
        assert prefix == f"chat-{pod_hash}"
        assert len(suffix) == 5
        assert pod["metadata"]["labels"] == {
            "app.kubernetes.io/name": "chat",
            SERVE_LABEL: "true",
            POD_TEMPLATE_HASH_LABEL: pod_hash,
        }
        assert pod["metadata"]["ownerReferences"][0]["name"] == f"chat-{pod_hash}"
        assert pod["spec"]["nodeName"] == f"twin-g6-2xlarge-{suffix}"
        assert (
            pod["spec"]["containers"][0]["args"]
            == deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        )
        assert pod["status"]["phase"] == "Running"
        assert _ready(pod)
    assert sorted(created) == sorted((p["metadata"]["name"], "chat", NS) for p in pods)
    twin = KubeCluster(seed=7)
    twin.create_deployment(_manifest(replicas=3))
    assert template_hash(twin.deployment(NS, "chat")["spec"]["template"]) == pod_hash, "the hash is stable"
    assert [p["metadata"]["name"] for p in twin.pods(NS)] == [p["metadata"]["name"] for p in pods], (
        "seeded names"
    )


def test_scale_down_removes_not_ready_then_lowest_cost_then_newest(
    cluster: KubeCluster, clock: ManualClock
) -> None:
    cluster.create_deployment(_manifest(replicas=1))
    for replicas in range(2, 6):
        clock.advance(10)
        cluster.patch_scale(NS, "chat", STRATEGIC_MERGE_PATCH, {"spec": {"replicas": replicas}})
    p1, p2, p3, p4, p5 = (pod["metadata"]["name"] for pod in cluster.pods(NS))
    costs = {p1: "100", p3: "-10", p4: "5"}
    for name, cost in costs.items():
        cluster.patch_pod(
            NS, name, STRATEGIC_MERGE_PATCH, {"metadata": {"annotations": {DELETION_COST_ANNOTATION: cost}}}
        )
    cluster.set_pod_ready(NS, p1, False)
    deleted: list[tuple[str, str, str]] = []
    cluster.on_pod_deleted = lambda pod, deployment, ns: deleted.append((pod, deployment, ns))
    cluster.patch_scale(NS, "chat", STRATEGIC_MERGE_PATCH, {"spec": {"replicas": 1}})
    assert [name for name, _, _ in deleted] == [p1, p3, p5, p2]
    assert {(d, ns) for _, d, ns in deleted} == {("chat", NS)}
    assert [pod["metadata"]["name"] for pod in cluster.pods(NS)] == [p4]


def _rollout_steps(cluster: KubeCluster, clock: ManualClock, step_s: float) -> list[tuple[int, int, int]]:
    """(ready pods, all pods, pods of the new template) after each clock step until the rollout ends."""
    new_hash = template_hash(cluster.deployment(NS, "chat")["spec"]["template"])
    steps = []
    for _ in range(50):
        pods = cluster.pods(NS)
        steps.append((sum(_ready(p) for p in pods), len(pods), _hashes(cluster).count(new_hash)))
        if steps[-1] == (4, 4, 4):
            return steps
        clock.advance(step_s)
        cluster.reconcile()
    raise AssertionError(f"rollout never finished: {steps}")


@pytest.mark.parametrize(
    ("max_surge", "max_unavailable", "min_ready", "max_pods"),
    [("25%", "25%", 3, 5), (1, 0, 4, 5), (0, 2, 2, 4), (2, 1, 3, 6)],
)
def test_rolling_update_progresses_with_the_clock_within_surge_and_unavailability(
    clock: ManualClock, max_surge: Any, max_unavailable: Any, min_ready: int, max_pods: int
) -> None:
    cluster = KubeCluster(clock=clock, ready_delay_s=30.0, seed=1)
    cluster.create_deployment(_manifest(maxSurge=max_surge, maxUnavailable=max_unavailable))
    clock.advance(30)
    cluster.reconcile()
    old_hash = _hashes(cluster)[0]
    written = _set_args(cluster, ["--model", "Qwen/Qwen2.5-7B-Instruct", "--max-num-seqs", "128"])
    assert written["metadata"]["generation"] == 2
    frozen = cluster.pods(NS)
    cluster.reconcile()
    assert cluster.pods(NS) == frozen, "nothing moves while the clock stands still"
    steps = _rollout_steps(cluster, clock, 10.0)
    assert len(steps) > 3, "the rollout waits for new pods to become ready"
    assert all(ready >= min_ready for ready, _, _ in steps), steps
    assert all(total <= max_pods for _, total, _ in steps), steps
    assert old_hash not in _hashes(cluster)
    deployment = cluster.deployment(NS, "chat")
    status = deployment["status"]
    assert status["observedGeneration"] == 2
    assert status["replicas"] == status["updatedReplicas"] == status["readyReplicas"] == 4
    assert status["availableReplicas"] == 4
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_min_ready_seconds_delays_availability(clock: ManualClock) -> None:
    cluster = KubeCluster(clock=clock, ready_delay_s=5.0)
    manifest = _manifest(replicas=2)
    manifest["spec"]["minReadySeconds"] = 20
    cluster.create_deployment(manifest)
    clock.advance(5)
    status = cluster.deployment(NS, "chat")["status"]
    assert status.get("readyReplicas") == 2
    assert "availableReplicas" not in status
    clock.advance(20)
    assert cluster.deployment(NS, "chat")["status"]["availableReplicas"] == 2


def test_recreate_replaces_every_pod_at_once(cluster: KubeCluster) -> None:
    manifest = _manifest(replicas=3)
    manifest["spec"]["strategy"] = {"type": "Recreate"}
    cluster.create_deployment(manifest)
    before = set(_hashes(cluster))
    _set_args(cluster, ["--model", "x"])
    after = set(_hashes(cluster))
    assert len(after) == 1
    assert after.isdisjoint(before)


def test_generation_and_observed_generation(clock: ManualClock) -> None:
    cluster = KubeCluster(clock=clock, reconcile_on_request=False)
    cluster.create_deployment(_manifest(replicas=2))
    assert cluster.pods(NS) == [], "without reconcile_on_request the controllers wait for reconcile()"
    cluster.reconcile()
    assert cluster.deployment(NS, "chat")["status"]["observedGeneration"] == 1
    _set_args(cluster, ["--model", "y"])
    deployment = cluster.deployment(NS, "chat")
    assert (deployment["metadata"]["generation"], deployment["status"]["observedGeneration"]) == (2, 1)
    cluster.patch_deployment(NS, "chat", STRATEGIC_MERGE_PATCH, {"metadata": {"labels": {"a": "b"}}})
    assert cluster.deployment(NS, "chat")["metadata"]["generation"] == 2, (
        "metadata changes keep the generation"
    )
    cluster.patch_scale(NS, "chat", STRATEGIC_MERGE_PATCH, {"spec": {"replicas": 3}})
    assert cluster.deployment(NS, "chat")["metadata"]["generation"] == 3
    cluster.reconcile()
    deployment = cluster.deployment(NS, "chat")
    assert deployment["status"]["observedGeneration"] == 3
    assert len(cluster.pods(NS)) == 3


def test_resource_version_moves_only_on_change(cluster: KubeCluster) -> None:
    cluster.create_deployment(_manifest(replicas=1))
    first = cluster.deployment(NS, "chat")["metadata"]["resourceVersion"]
    cluster.reconcile()
    assert cluster.deployment(NS, "chat")["metadata"]["resourceVersion"] == first
    cluster.patch_scale(NS, "chat", STRATEGIC_MERGE_PATCH, {"spec": {"replicas": 1}})
    assert cluster.deployment(NS, "chat")["metadata"]["resourceVersion"] == first, (
        "a no-op write is no change"
    )
    cluster.patch_scale(NS, "chat", STRATEGIC_MERGE_PATCH, {"spec": {"replicas": 2}})
    assert int(cluster.deployment(NS, "chat")["metadata"]["resourceVersion"]) > int(first)


def test_a_pod_relabelled_out_of_the_selector_is_released_and_replaced(cluster: KubeCluster) -> None:
    cluster.create_deployment(_manifest(replicas=2))
    name = cluster.pods(NS)[0]["metadata"]["name"]
    cluster.patch_pod(NS, name, STRATEGIC_MERGE_PATCH, {"metadata": {"labels": {SERVE_LABEL: "false"}}})
    assert len(cluster.pods(NS)) == 2, "the serve label is not in the selector: the pod stays owned"
    cluster.patch_pod(
        NS, name, STRATEGIC_MERGE_PATCH, {"metadata": {"labels": {"app.kubernetes.io/name": "debug"}}}
    )
    pods = cluster.pods(NS)
    assert len(pods) == 3
    released = cluster.pod(NS, name)
    assert "ownerReferences" not in released["metadata"]
    assert cluster.deployment(NS, "chat")["status"]["replicas"] == 2


def test_pod_ready_pinning(cluster: KubeCluster) -> None:
    cluster.create_deployment(_manifest(replicas=2))
    name = cluster.pods(NS)[0]["metadata"]["name"]
    cluster.set_pod_ready(NS, name, False)
    assert not _ready(cluster.pod(NS, name))
    assert cluster.deployment(NS, "chat")["status"]["readyReplicas"] == 1
    cluster.set_pod_ready(NS, name, None)
    assert _ready(cluster.pod(NS, name))


def test_hooks_run_outside_the_lock_and_their_failures_are_contained(cluster: KubeCluster) -> None:
    seen: list[int] = []

    def hook(pod: str, deployment: str, ns: str) -> None:
        seen.append(len(cluster.pods(ns)))  # re-entering the cluster must not deadlock
        raise RuntimeError("hook failure")

    cluster.on_pod_created = hook
    cluster.create_deployment(_manifest(replicas=2))
    assert seen == [2, 2]


def test_fault_bookkeeping(cluster: KubeCluster) -> None:
    cluster.fail_next("get", "*/pods/*", status=503, reason="ServiceUnavailable", times=2, after=1)
    assert cluster.take_fault("GET", "/api/v1/namespaces/a/pods/x") is None
    assert cluster.take_fault("PATCH", "/api/v1/namespaces/a/pods/x") is None
    first = cluster.take_fault("GET", "/api/v1/namespaces/a/pods/y")
    assert isinstance(first, ApiError)
    assert (first.code, first.reason) == (503, "ServiceUnavailable")
    assert cluster.take_fault("GET", "/api/v1/namespaces/a/pods/z") is not None
    assert cluster.take_fault("GET", "/api/v1/namespaces/a/pods/z") is None
    cluster.fail_next("GET", "*")
    cluster.clear_faults()
    assert cluster.take_fault("GET", "/version") is None


def test_invalid_manifests_are_refused(cluster: KubeCluster) -> None:
    manifest = _manifest()
    manifest["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "other"}}
    with pytest.raises(ApiError) as raised:
        cluster.create_deployment(manifest)
    assert (raised.value.code, raised.value.reason) == (422, "Invalid")
    manifest = _manifest()
    manifest["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0},
    }
    with pytest.raises(ApiError):
        cluster.create_deployment(manifest)
    with pytest.raises(ApiError) as raised:
        cluster.deployment(NS, "chat")
    assert raised.value.code == 404


def test_delete_deployment_removes_its_pods(cluster: KubeCluster) -> None:
    cluster.create_deployment(_manifest(replicas=2))
    cluster.create_deployment(_manifest("embed", replicas=1))
    cluster.delete_deployment(NS, "chat")
    assert [p["metadata"]["labels"]["app.kubernetes.io/name"] for p in cluster.pods(NS)] == ["embed"]
