"""The twin's in-process Kubernetes cluster: Deployments, their Pods and HorizontalPodAutoscalers, with the
Deployment and ReplicaSet controllers emulated closely enough for the Performance agent's changes to behave
as on a real cluster.

Objects are kept as the JSON the API serves (apps/v1 Deployment, v1 Pod, autoscaling/v1 Scale).
ReplicaSets are not served; each Deployment's pods are grouped by their `pod-template-hash` label, one
group per ReplicaSet, and carry an owner reference to `{deployment}-{hash}` as on a real cluster.

Controller behaviour:
- Reconciliation runs before and after every API call (unless `reconcile_on_request=False`) and on
  `reconcile()`. It runs to a fixed point: everything that can happen at the current clock reading does.
- A pod is created Running and becomes Ready `ready_delay_s` after its creation, on the injected clock
  (so with the default delay of 0 it is ready at once); `set_pod_ready` pins a pod's readiness.
- Scale-down deletes pods in the ReplicaSet controller's order: not ready before ready, then the lowest
  `controller.kubernetes.io/pod-deletion-cost` (missing is 0), then the most recently ready, then the
  newest. Deletion is immediate (no terminating phase).
- A template change is rolled out as the Deployment controller does: RollingUpdate honours maxSurge and
  maxUnavailable (defaults 25%/25%, surge rounded up, unavailable down; `minReadySeconds` counts toward
  availability), Recreate removes every old pod first.
- A pod whose labels stop matching its Deployment's selector (or its template hash) is released: its owner
  reference is removed and a replacement is created. Orphans are not adopted back.

- HorizontalPodAutoscalers (autoscaling/v2) are stored as served; their controller runs when the owner
  calls `run_autoscalers` with a reader of the pods' metrics (the embedded twin does after each window),
  following `autoscaling`'s arithmetic.

Write responses show the object as written, before the controller reacts (so right after a spec
change `status.observedGeneration` still lags `metadata.generation`), as on a real API server."""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from optiinfra.domain.kube import (
    DELETION_COST_ANNOTATION,
    INSTANCE_TYPE_LABEL,
    POD_TEMPLATE_HASH_LABEL,
    kube_quantity,
)
from optiinfra.sim.kube.autoscaling import autoscaler_problems, autoscaler_spec, controller_step
from optiinfra.sim.kube.errors import (
    ApiError,
    already_exists,
    bad_request,
    conflict,
    invalid,
    not_found,
)
from optiinfra.sim.kube.objects import (
    apply_deployment_defaults,
    check_body_name,
    deployment_problems,
    metadata_problems,
    resolve_int_or_percent,
    system_metadata,
    user_metadata,
    without_type,
)
from optiinfra.sim.kube.patch import apply_patch
from optiinfra.sim.kube.selectors import label_selector_matches, parse_selector, selector_to_string

logger = logging.getLogger(__name__)

PodHook = Callable[[str, str, str], None]
"""Called with (pod name, deployment name, namespace), outside the cluster's lock."""

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated name suffixes
DEPLOYMENTS = "deployments.apps"
PODS = "pods"
AUTOSCALERS = "horizontalpodautoscalers.autoscaling"
MetricReader = Callable[[str, str, str], float | None]
"""(namespace, pod name, metric name) -> the pod's current value of a per-pod metric, None if unknown."""
VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "33",
    "gitVersion": "v1.33.0+optiinfra-twin",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-04-23T00:00:00Z",
    "goVersion": "go1.24.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class ApiEvent(NamedTuple):
    """One request the HTTP endpoint answered: method (GET, PATCH, ...), path without query, status."""

    verb: str
    path: str
    status: int


@dataclass
class _Fault:
    method: str
    pattern: str
    status: int
    reason: str
    message: str
    times: int
    after: int


@dataclass
class _PodInfo:
    deployment: str
    template_hash: str
    created: float
    seq: int
    ready_at: float
    owned: bool = True
    pinned_ready: bool | None = None
    pinned_at: float = 0.0
    restarts: int = 0
    last_termination: str | None = None


def _timestamp(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def template_hash(template: Mapping[str, Any]) -> str:
    """A stable hash of a pod template (labels, annotations and spec), in the style of pod-template-hash."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    number = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")
    chars = []
    for _ in range(10):
        number, digit = divmod(number, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[digit])
    return "".join(chars)


def _labels(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


class KubeCluster:
    """Deployments and pods in memory, behind one lock; see the module docstring for the semantics."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        ready_delay_s: float = 0.0,
        seed: int = 0,
        pod_ip: str = "127.0.0.1",
        reconcile_on_request: bool = True,
        on_pod_created: PodHook | None = None,
        on_pod_deleted: PodHook | None = None,
    ) -> None:
        if ready_delay_s < 0:
            raise ValueError(f"ready_delay_s cannot be negative, got {ready_delay_s}")
        self.clock = clock
        self.ready_delay_s = ready_delay_s
        self.pod_ip = pod_ip
        self.reconcile_on_request = reconcile_on_request
        self.on_pod_created = on_pod_created
        self.on_pod_deleted = on_pod_deleted
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._deployments: dict[tuple[str, str], dict[str, Any]] = {}
        self._pods: dict[tuple[str, str], dict[str, Any]] = {}
        self._pod_info: dict[tuple[str, str], _PodInfo] = {}
        self._revisions: dict[tuple[str, str], dict[str, int]] = {}
        self._last_progress: dict[tuple[str, str], float] = {}
        self._resource_version = 0
        self._seq = 0
        self._faults: list[_Fault] = []
        self._events: list[ApiEvent] = []
        self._pending_hooks: list[tuple[str, str, str, str]] = []
        self._autoscalers: dict[tuple[str, str], dict[str, Any]] = {}
        self._recommendations: dict[tuple[str, str], list[tuple[float, int]]] = {}

    # ----------------------------------------------------------------------------------------------
    # Locking, hooks, faults and the request log

    @contextmanager
    def _locked(self, *, reconcile: bool = True) -> Iterator[None]:
        try:
            with self._lock:
                if reconcile and self.reconcile_on_request:
                    self._reconcile_all()
                yield
        finally:
            self._flush_hooks()

    def _flush_hooks(self) -> None:
        with self._lock:
            pending, self._pending_hooks = self._pending_hooks, []
        for kind, pod, deployment, namespace in pending:
            hook = self.on_pod_created if kind == "created" else self.on_pod_deleted
            if hook is None:
                continue
            try:
                hook(pod, deployment, namespace)
            except Exception:
                logger.exception("on_pod_%s hook failed for %s/%s", kind, namespace, pod)

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int = 500,
        reason: str = "InternalError",
        times: int = 1,
        *,
        after: int = 0,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` requests whose method and path match with a v1 Status error, without
        touching any state. `path_pattern` is an fnmatch pattern on the path without query (`*` crosses
        `/`), e.g. "*/deployments/chat/scale". `after` lets that many matching requests through first,
        so `after=1` fails the second one."""
        if times < 1 or after < 0:
            raise ValueError("times must be at least 1 and after at least 0")
        fault = _Fault(
            method.upper(),
            path_pattern,
            status,
            reason,
            message or f"injected fault: {reason}",
            times,
            after,
        )
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> ApiError | None:
        """The error an injected fault makes this request fail with, if any (consumes one use)."""
        with self._lock:
            for fault in self._faults:
                if fault.method != method.upper() or not fnmatch.fnmatchcase(path, fault.pattern):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return ApiError(fault.status, fault.reason, fault.message)
        return None

    def record_event(self, verb: str, path: str, status: int) -> None:
        with self._lock:
            self._events.append(ApiEvent(verb, path, status))

    @property
    def events(self) -> list[ApiEvent]:
        """Every request answered so far, oldest first (a copy)."""
        with self._lock:
            return list(self._events)

    def clear_events(self) -> None:
        with self._lock:
            self._events.clear()

    # ----------------------------------------------------------------------------------------------
    # Direct Python API: seeding, inspection, readiness control

    def reconcile(self) -> None:
        """Let the controllers act on everything that is due at the current clock reading."""
        with self._locked(reconcile=False):
            self._reconcile_all()

    def create_deployment(self, manifest: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create a Deployment from a manifest (its own namespace, else `namespace`, else "default")."""
        ns = namespace or (manifest.get("metadata") or {}).get("namespace") or "default"
        with self._locked():
            created = self._create_deployment(ns, manifest)
            if self.reconcile_on_request:
                self._reconcile_all()
        return created

    def delete_deployment(self, namespace: str, name: str) -> None:
        """Delete a Deployment and, as a foreground cascade would, all its pods."""
        with self._locked():
            self._get_deployment(namespace, name)
            for key, info in list(self._pod_info.items()):
                if key[0] == namespace and info.deployment == name and info.owned:
                    self._delete_pod(key)
            del self._deployments[(namespace, name)]
            self._revisions.pop((namespace, name), None)
            self._last_progress.pop((namespace, name), None)

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        with self._locked():
            return copy.deepcopy(self._get_deployment(namespace, name))

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        with self._locked():
            return copy.deepcopy(self._get_pod(namespace, name))

    def pods(self, namespace: str, selector: str | Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Pods of a namespace matching a selector (string form or a labels mapping), oldest first."""
        if isinstance(selector, Mapping):
            selector = ",".join(f"{key}={value}" for key, value in selector.items())
        with self._locked():
            return [copy.deepcopy(self._pods[key]) for key in self._select_pods(namespace, selector)]

    def set_pod_ready(self, namespace: str, name: str, ready: bool | None) -> None:
        """Pin a pod's readiness (True/False), or None to go back to `ready_delay_s` after creation."""
        with self._locked():
            self._get_pod(namespace, name)
            info = self._pod_info[(namespace, name)]
            info.pinned_ready = ready
            info.pinned_at = self.clock()
            if self.reconcile_on_request:
                self._reconcile_all()

    def record_container_restart(self, namespace: str, name: str, reason: str = "OOMKilled") -> None:
        """The pod's containers were killed (`reason` as the kubelet reports it, e.g. OOMKilled) and
        restarted in place: the restart count goes up and the last state says why."""
        with self._locked():
            self._get_pod(namespace, name)
            info = self._pod_info[(namespace, name)]
            info.restarts += 1
            info.last_termination = reason

    # ----------------------------------------------------------------------------------------------
    # The API the HTTP endpoint serves

    def version(self) -> dict[str, str]:
        return dict(VERSION_INFO)

    def list_deployments(self, namespace: str, label_selector: str | None = None) -> dict[str, Any]:
        matches = parse_selector(label_selector)
        with self._locked():
            items = [
                copy.deepcopy(without_type(obj))
                for (ns, _), obj in sorted(self._deployments.items())
                if ns == namespace and matches(_labels(obj))
            ]
            return {
                "kind": "DeploymentList",
                "apiVersion": "apps/v1",
                "metadata": {"resourceVersion": str(self._resource_version)},
                "items": items,
            }

    def get_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return self.deployment(namespace, name)

    def replace_deployment(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._locked():
            current = self._get_deployment(namespace, name)
            check_body_name(body, namespace, name)
            version = (body.get("metadata") or {}).get("resourceVersion")
            if not version:
                raise invalid(
                    "Deployment",
                    name,
                    ["metadata.resourceVersion: Invalid value: 0: must be specified for an update"],
                )
            if str(version) != current["metadata"]["resourceVersion"]:
                raise conflict(DEPLOYMENTS, name)
            return self._write_deployment(namespace, name, dict(body))

    def patch_deployment(self, namespace: str, name: str, content_type: str, patch: Any) -> dict[str, Any]:
        with self._locked():
            current = self._get_deployment(namespace, name)
            patched = apply_patch(content_type, current, patch)
            if not isinstance(patched, dict):
                raise invalid("Deployment", name, ["the patched object is not a JSON object"])
            version = (patched.get("metadata") or {}).get("resourceVersion")
            if version is not None and str(version) != current["metadata"]["resourceVersion"]:
                raise conflict(DEPLOYMENTS, name)
            check_body_name(patched, namespace, name)
            return self._write_deployment(namespace, name, patched)

    def get_scale(self, namespace: str, name: str) -> dict[str, Any]:
        with self._locked():
            return self._scale_of(self._get_deployment(namespace, name))

    def replace_scale(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._locked():
            current = self._get_deployment(namespace, name)
            check_body_name(body, namespace, name)
            version = (body.get("metadata") or {}).get("resourceVersion")
            if version and str(version) != current["metadata"]["resourceVersion"]:
                raise conflict(DEPLOYMENTS, name)
            return self._write_scale(namespace, name, body)

    def patch_scale(self, namespace: str, name: str, content_type: str, patch: Any) -> dict[str, Any]:
        with self._locked():
            current = self._get_deployment(namespace, name)
            patched = apply_patch(content_type, self._scale_of(current), patch)
            if not isinstance(patched, dict):
                raise invalid("Scale", name, ["the patched object is not a JSON object"])
            version = (patched.get("metadata") or {}).get("resourceVersion")
            if version is not None and str(version) != current["metadata"]["resourceVersion"]:
                raise conflict(DEPLOYMENTS, name)
            check_body_name(patched, namespace, name)
            return self._write_scale(namespace, name, patched)

    def list_pods(self, namespace: str, label_selector: str | None = None) -> dict[str, Any]:
        with self._locked():
            items = [
                copy.deepcopy(without_type(self._pods[key]))
                for key in self._select_pods(namespace, label_selector)
            ]
            return {
                "kind": "PodList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self._resource_version)},
                "items": items,
            }

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.pod(namespace, name)

    def patch_pod(self, namespace: str, name: str, content_type: str, patch: Any) -> dict[str, Any]:
        with self._locked():
            current = self._get_pod(namespace, name)
            patched = apply_patch(content_type, current, patch)
            if not isinstance(patched, dict):
                raise invalid("Pod", name, ["the patched object is not a JSON object"])
            metadata = patched.get("metadata")
            if not isinstance(metadata, dict):
                raise invalid("Pod", name, ["metadata: Required value"])
            version = metadata.get("resourceVersion")
            if version is not None and str(version) != current["metadata"]["resourceVersion"]:
                raise conflict(PODS, name)
            check_body_name(patched, namespace, name)
            if patched.get("spec") != current.get("spec"):
                raise invalid(
                    "Pod",
                    name,
                    ["spec: Forbidden: pod updates may not change fields other than image and tolerations"],
                )
            problems = metadata_problems(metadata)
            if problems:
                raise invalid("Pod", name, problems)
            updated = copy.deepcopy(current)
            updated["metadata"] = {**system_metadata(current), **user_metadata(metadata)}
            if updated != current:
                self._bump(updated)
                self._pods[(namespace, name)] = updated
            result = copy.deepcopy(updated)
            if self.reconcile_on_request:
                self._reconcile_all()
            return result

    def delete_pod(self, namespace: str, name: str) -> dict[str, Any]:
        with self._locked():
            pod = copy.deepcopy(self._get_pod(namespace, name))
            self._delete_pod((namespace, name))
            if self.reconcile_on_request:
                self._reconcile_all()
            return pod

    # ----------------------------------------------------------------------------------------------
    # Storage helpers (lock held)

    def _bump(self, obj: dict[str, Any]) -> None:
        self._resource_version += 1
        obj.setdefault("metadata", {})["resourceVersion"] = str(self._resource_version)

    def _uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _get_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        found = self._deployments.get((namespace, name))
        if found is None:
            raise not_found(DEPLOYMENTS, name)
        return found

    def _get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        found = self._pods.get((namespace, name))
        if found is None:
            raise not_found(PODS, name)
        return found

    def _select_pods(self, namespace: str, label_selector: str | None) -> list[tuple[str, str]]:
        matches = parse_selector(label_selector)
        keys = [key for key, pod in self._pods.items() if key[0] == namespace and matches(_labels(pod))]
        return sorted(keys, key=lambda key: self._pod_info[key].seq)

    def _create_deployment(self, namespace: str, manifest: Mapping[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(dict(manifest))
        metadata = dict(body.get("metadata") or {})
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise invalid(
                "Deployment", "", ["metadata.name: Required value: name or generateName is required"]
            )
        if metadata.get("namespace", namespace) != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        if (namespace, name) in self._deployments:
            raise already_exists(DEPLOYMENTS, name)
        apply_deployment_defaults(body)
        problems = deployment_problems(body) + metadata_problems(metadata)
        if problems:
            raise invalid("Deployment", name, problems)
        now = self.clock()
        deployment: dict[str, Any] = {
            "kind": "Deployment",
            "apiVersion": "apps/v1",
            "metadata": {
                **user_metadata(metadata),
                "name": name,
                "namespace": namespace,
                "uid": self._uid(),
                "creationTimestamp": _timestamp(now),
                "generation": 1,
            },
            "spec": body["spec"],
            "status": {},
        }
        self._bump(deployment)
        self._deployments[(namespace, name)] = deployment
        self._last_progress[(namespace, name)] = now
        return copy.deepcopy(deployment)

    def _write_deployment(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self._get_deployment(namespace, name)
        body = copy.deepcopy(body)
        body.setdefault("spec", {})
        apply_deployment_defaults(body)
        metadata = body.get("metadata") or {}
        problems = deployment_problems(body) + metadata_problems(metadata)
        if body["spec"].get("selector") != current["spec"].get("selector"):
            problems.append("spec.selector: Invalid value: field is immutable")
        if problems:
            raise invalid("Deployment", name, problems)
        updated = copy.deepcopy(current)
        updated["metadata"] = {**system_metadata(current), **user_metadata(metadata)}
        if REVISION_ANNOTATION in (current["metadata"].get("annotations") or {}):
            annotations = updated["metadata"].setdefault("annotations", {})
            annotations[REVISION_ANNOTATION] = current["metadata"]["annotations"][REVISION_ANNOTATION]
        updated["spec"] = body["spec"]
        if updated["spec"] != current["spec"]:
            updated["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
            self._last_progress[(namespace, name)] = self.clock()
        if updated != current:
            self._bump(updated)
            self._deployments[(namespace, name)] = updated
        result = copy.deepcopy(updated)
        if self.reconcile_on_request:
            self._reconcile_all()
        return result

    def _scale_of(self, deployment: Mapping[str, Any]) -> dict[str, Any]:
        metadata = deployment["metadata"]
        replicas = int(deployment["spec"].get("replicas", 1))
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                key: metadata[key]
                for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if key in metadata
            },
            "spec": {"replicas": replicas} if replicas else {},
            "status": {
                "replicas": int((deployment.get("status") or {}).get("replicas", 0)),
                "selector": selector_to_string(deployment["spec"].get("selector")),
            },
        }

    def _write_scale(self, namespace: str, name: str, scale: Mapping[str, Any]) -> dict[str, Any]:
        replicas = (scale.get("spec") or {}).get("replicas", 0)
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise invalid(
                "Scale",
                name,
                [f"spec.replicas: Invalid value: {replicas!r}: must be greater than or equal to 0"],
            )
        current = self._get_deployment(namespace, name)
        if int(current["spec"].get("replicas", 1)) != replicas:
            updated = copy.deepcopy(current)
            updated["spec"]["replicas"] = replicas
            updated["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
            self._bump(updated)
            self._deployments[(namespace, name)] = updated
            self._last_progress[(namespace, name)] = self.clock()
        result = self._scale_of(self._deployments[(namespace, name)])
        if self.reconcile_on_request:
            self._reconcile_all()
        return result

    # ----------------------------------------------------------------------------------------------
    # HorizontalPodAutoscalers (autoscaling/v2; see `autoscaling` for what is supported)

    def create_autoscaler(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        metadata = dict(body.get("metadata") or {})
        name = metadata.get("name")
        if not isinstance(name, str) or not name:
            raise invalid("HorizontalPodAutoscaler", "", ["metadata.name: Required value"])
        with self._locked():
            check_body_name(body, namespace, name)
            if (namespace, name) in self._autoscalers:
                raise already_exists(AUTOSCALERS, name)
            self._check_autoscaler(name, body)
            created: dict[str, Any] = {
                "kind": "HorizontalPodAutoscaler",
                "apiVersion": "autoscaling/v2",
                "metadata": {
                    **user_metadata(metadata),
                    "name": name,
                    "namespace": namespace,
                    "uid": self._uid(),
                    "creationTimestamp": _timestamp(self.clock()),
                },
                "spec": copy.deepcopy(body["spec"]),
                "status": {"currentReplicas": 0, "desiredReplicas": 0},
            }
            self._bump(created)
            self._autoscalers[(namespace, name)] = created
            return copy.deepcopy(created)

    def list_autoscalers(self, namespace: str) -> dict[str, Any]:
        with self._locked():
            items = [
                without_type(copy.deepcopy(found))
                for (ns, _), found in sorted(self._autoscalers.items())
                if ns == namespace
            ]
            return {
                "kind": "HorizontalPodAutoscalerList",
                "apiVersion": "autoscaling/v2",
                "metadata": {"resourceVersion": str(self._resource_version)},
                "items": items,
            }

    def get_autoscaler(self, namespace: str, name: str) -> dict[str, Any]:
        with self._locked():
            return copy.deepcopy(self._get_autoscaler(namespace, name))

    def replace_autoscaler(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._locked():
            current = self._get_autoscaler(namespace, name)
            check_body_name(body, namespace, name)
            version = (body.get("metadata") or {}).get("resourceVersion")
            if version and str(version) != current["metadata"]["resourceVersion"]:
                raise conflict(AUTOSCALERS, name)
            return self._write_autoscaler(namespace, name, body)

    def patch_autoscaler(self, namespace: str, name: str, content_type: str, patch: Any) -> dict[str, Any]:
        with self._locked():
            current = self._get_autoscaler(namespace, name)
            patched = apply_patch(content_type, current, patch)
            if not isinstance(patched, dict):
                raise invalid("HorizontalPodAutoscaler", name, ["the patched object is not a JSON object"])
            version = (patched.get("metadata") or {}).get("resourceVersion")
            if version is not None and str(version) != current["metadata"]["resourceVersion"]:
                raise conflict(AUTOSCALERS, name)
            check_body_name(patched, namespace, name)
            return self._write_autoscaler(namespace, name, patched)

    def delete_autoscaler(self, namespace: str, name: str) -> dict[str, Any]:
        with self._locked():
            found = self._get_autoscaler(namespace, name)
            del self._autoscalers[(namespace, name)]
            self._recommendations.pop((namespace, name), None)
            return {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Success",
                "details": {
                    "name": name,
                    "group": "autoscaling",
                    "kind": "horizontalpodautoscalers",
                    "uid": found["metadata"]["uid"],
                },
            }

    def run_autoscalers(self, read_metric: MetricReader) -> list[tuple[str, str, int, int]]:
        """One pass of the HorizontalPodAutoscaler controller: each autoscaler reads its metrics from the
        target's ready pods (through `read_metric`, outside the lock) and scales the Deployment as the
        upstream algorithm would. Returns (namespace, deployment, from, to) for every change."""
        with self._locked():
            work = []
            now = self.clock()
            for (namespace, name), found in self._autoscalers.items():
                spec = autoscaler_spec(found)
                target = self._deployments.get((namespace, spec.deployment))
                if target is None:
                    continue
                ready = [
                    pod_name
                    for pod_ns, pod_name in self._owned_pods((namespace, spec.deployment))
                    if self._is_ready(self._pod_info[(pod_ns, pod_name)], now)
                ]
                work.append((namespace, name, spec, int(target["spec"].get("replicas", 1)), ready))
        readings = [
            [[v for pod in ready if (v := read_metric(ns, pod, m.name)) is not None] for m in spec.metrics]
            for ns, _, spec, _, ready in work
        ]
        changes: list[tuple[str, str, int, int]] = []
        with self._locked():
            now = self.clock()
            for (namespace, name, spec, current, _), values in zip(work, readings, strict=True):
                if (namespace, name) not in self._autoscalers:
                    continue  # deleted meanwhile
                history = self._recommendations.setdefault((namespace, name), [])
                decided = controller_step(spec, current, values, history, now)
                status: dict[str, Any] = {
                    "currentReplicas": current,
                    "desiredReplicas": decided,
                    "currentMetrics": [
                        {
                            "type": "Pods",
                            "pods": {
                                "metric": {"name": metric.name},
                                "current": {"averageValue": kube_quantity(sum(found) / len(found))},
                            },
                        }
                        for metric, found in zip(spec.metrics, values, strict=True)
                        if found
                    ],
                }
                if decided != current and (namespace, spec.deployment) in self._deployments:
                    self._write_scale(namespace, spec.deployment, {"spec": {"replicas": decided}})
                    status["lastScaleTime"] = _timestamp(now)
                    changes.append((namespace, spec.deployment, current, decided))
                autoscaler = self._autoscalers[(namespace, name)]
                previous = autoscaler.get("status") or {}
                if "lastScaleTime" in previous and "lastScaleTime" not in status:
                    status["lastScaleTime"] = previous["lastScaleTime"]
                if status != previous:
                    autoscaler["status"] = status
                    self._bump(autoscaler)
        return changes

    def _get_autoscaler(self, namespace: str, name: str) -> dict[str, Any]:
        found = self._autoscalers.get((namespace, name))
        if found is None:
            raise not_found(AUTOSCALERS, name)
        return found

    def _check_autoscaler(self, name: str, body: Mapping[str, Any]) -> None:
        problems = autoscaler_problems(body) + metadata_problems(body.get("metadata") or {})
        if problems:
            raise invalid("HorizontalPodAutoscaler", name, problems)

    def _write_autoscaler(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        self._check_autoscaler(name, body)
        current = self._autoscalers[(namespace, name)]
        updated = copy.deepcopy(current)
        updated["metadata"] = {**system_metadata(current), **user_metadata(body.get("metadata") or {})}
        updated["spec"] = copy.deepcopy(body["spec"])
        if updated != current:
            self._bump(updated)
            self._autoscalers[(namespace, name)] = updated
        return copy.deepcopy(updated)

    # ----------------------------------------------------------------------------------------------
    # Pods (lock held)

    def _is_ready(self, info: _PodInfo, now: float) -> bool:
        return self._ready_since(info, now) is not None

    def _ready_since(self, info: _PodInfo, now: float) -> float | None:
        if info.pinned_ready is not None:
            return info.pinned_at if info.pinned_ready else None
        return info.ready_at if now >= info.ready_at else None

    def _is_available(self, key: tuple[str, str], min_ready_s: float, now: float) -> bool:
        since = self._ready_since(self._pod_info[key], now)
        return since is not None and since + min_ready_s <= now

    def _pod_name(self, deployment: str, pod_hash: str) -> str:
        while True:
            suffix = "".join(self._rng.choice(SAFE_ALPHABET) for _ in range(5))
            name = f"{deployment}-{pod_hash}-{suffix}"
            if not any(key[1] == name for key in self._pods):
                return name

    def _create_pod(self, deployment: Mapping[str, Any], pod_hash: str, now: float) -> None:
        namespace = deployment["metadata"]["namespace"]
        dep_name = deployment["metadata"]["name"]
        template = deployment["spec"]["template"]
        name = self._pod_name(dep_name, pod_hash)
        spec = copy.deepcopy(template.get("spec") or {})
        instance_type = (spec.get("nodeSelector") or {}).get(INSTANCE_TYPE_LABEL)
        node_prefix = f"twin-{instance_type.replace('.', '-').lower()}" if instance_type else "twin-node"
        spec["nodeName"] = f"{node_prefix}-{name.rsplit('-', 1)[1]}"
        template_meta = template.get("metadata") or {}
        rs_uid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{deployment['metadata']['uid']}/{pod_hash}"))
        pod: dict[str, Any] = {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "generateName": f"{dep_name}-{pod_hash}-",
                "namespace": namespace,
                "uid": self._uid(),
                "creationTimestamp": _timestamp(now),
                "labels": {**(template_meta.get("labels") or {}), POD_TEMPLATE_HASH_LABEL: pod_hash},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": f"{dep_name}-{pod_hash}",
                        "uid": rs_uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
            "status": {},
        }
        if template_meta.get("annotations"):
            pod["metadata"]["annotations"] = dict(template_meta["annotations"])
        self._seq += 1
        key = (namespace, name)
        info = _PodInfo(dep_name, pod_hash, now, self._seq, now + self.ready_delay_s)
        self._pod_info[key] = info
        pod["status"] = self._pod_status(pod, info, now)
        self._bump(pod)
        self._pods[key] = pod
        self._pending_hooks.append(("created", name, dep_name, namespace))

    def _delete_pod(self, key: tuple[str, str]) -> None:
        info = self._pod_info.pop(key)
        del self._pods[key]
        self._resource_version += 1
        self._pending_hooks.append(("deleted", key[1], info.deployment, key[0]))

    def _pod_status(self, pod: Mapping[str, Any], info: _PodInfo, now: float) -> dict[str, Any]:
        since = self._ready_since(info, now)
        ready = since is not None
        started = _timestamp(info.created)
        ready_change = _timestamp(since) if since is not None else started
        flag = "True" if ready else "False"
        containers = (pod.get("spec") or {}).get("containers") or []
        conditions = [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": started},
            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
            {"type": "Ready", "status": flag, "lastTransitionTime": ready_change},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": ready_change},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
        ]
        if not ready:
            for condition in conditions[2:4]:
                condition["reason"] = "ContainersNotReady"
                condition["message"] = (
                    "containers with unready status: ["
                    + " ".join(c.get("name", "") for c in containers)
                    + "]"
                )
        return {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": self.pod_ip,
            "hostIPs": [{"ip": self.pod_ip}],
            "podIP": self.pod_ip,
            "podIPs": [{"ip": self.pod_ip}],
            "startTime": started,
            "qosClass": "Burstable",
            "containerStatuses": [
                {
                    "name": c.get("name", ""),
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": ready,
                    "started": True,
                    "restartCount": info.restarts,
                    "state": {"running": {"startedAt": started}},
                    **(
                        {"lastState": {"terminated": {"reason": info.last_termination, "exitCode": 137}}}
                        if info.last_termination is not None
                        else {}
                    ),
                }
                for c in containers
            ],
        }

    def _deletion_order(self, keys: list[tuple[str, str]], now: float) -> list[tuple[str, str]]:
        """The ReplicaSet controller's order for removing pods: first in the list goes first."""

        def rank(key: tuple[str, str]) -> tuple[bool, int, float, float, int]:
            info = self._pod_info[key]
            since = self._ready_since(info, now)
            raw_cost = (self._pods[key]["metadata"].get("annotations") or {}).get(DELETION_COST_ANNOTATION)
            try:
                cost = int(raw_cost) if raw_cost is not None else 0
            except ValueError:
                cost = 0
            return (since is not None, cost, -(since or 0.0), -info.created, -info.seq)

        return sorted(keys, key=rank)

    # ----------------------------------------------------------------------------------------------
    # Controllers (lock held)

    def _reconcile_all(self) -> None:
        now = self.clock()
        for key, pod in list(self._pods.items()):
            status = self._pod_status(pod, self._pod_info[key], now)
            if status != pod.get("status"):
                pod["status"] = status
                self._bump(pod)
        for key in sorted(self._deployments):
            for _ in range(10_000):
                if not self._sync_deployment(key, now):
                    break
            self._update_deployment_status(key, now)

    def _owned_pods(self, key: tuple[str, str]) -> list[tuple[str, str]]:
        """The deployment's pods; releases those whose labels no longer match its selector or hash."""
        deployment = self._deployments[key]
        selector = deployment["spec"].get("selector")
        owned: list[tuple[str, str]] = []
        for pod_key, info in list(self._pod_info.items()):
            if pod_key[0] != key[0] or info.deployment != key[1] or not info.owned:
                continue
            pod = self._pods[pod_key]
            labels = _labels(pod)
            if (
                label_selector_matches(selector, labels)
                and labels.get(POD_TEMPLATE_HASH_LABEL) == info.template_hash
            ):
                owned.append(pod_key)
                continue
            info.owned = False
            pod["metadata"].pop("ownerReferences", None)
            self._bump(pod)
        return sorted(owned, key=lambda pod_key: self._pod_info[pod_key].seq)

    def _current_hash(self, key: tuple[str, str]) -> str:
        deployment = self._deployments[key]
        pod_hash = template_hash(deployment["spec"]["template"])
        revisions = self._revisions.setdefault(key, {})
        if pod_hash not in revisions or revisions[pod_hash] != max(revisions.values()):
            revisions[pod_hash] = max(revisions.values(), default=0) + 1
        annotations = deployment["metadata"].setdefault("annotations", {})
        if annotations.get(REVISION_ANNOTATION) != str(revisions[pod_hash]):
            annotations[REVISION_ANNOTATION] = str(revisions[pod_hash])
            self._bump(deployment)
        return pod_hash

    def _sync_deployment(self, key: tuple[str, str], now: float) -> bool:
        """One controller step; True when it created or deleted pods (call again until False)."""
        deployment = self._deployments[key]
        spec = deployment["spec"]
        pod_hash = self._current_hash(key)
        owned = self._owned_pods(key)
        if spec.get("paused"):
            return False
        replicas = int(spec.get("replicas", 1))
        min_ready_s = float(spec.get("minReadySeconds", 0))
        new = [k for k in owned if self._pod_info[k].template_hash == pod_hash]
        old = [k for k in owned if self._pod_info[k].template_hash != pod_hash]
        strategy = spec.get("strategy") or {}
        if strategy.get("type") == "Recreate" and old:
            for pod_key in old:
                self._delete_pod(pod_key)
            return True
        if not old:
            return self._scale_group(deployment, pod_hash, new, replicas, now)
        surge, unavailable = _surge_and_unavailable(spec, replicas)
        if len(new) > replicas:
            return self._scale_group(deployment, pod_hash, new, replicas, now)
        if len(new) < replicas and len(owned) < replicas + surge:
            wanted = min(replicas, len(new) + replicas + surge - len(owned))
            return self._scale_group(deployment, pod_hash, new, wanted, now)
        min_available = replicas - unavailable
        new_unavailable = sum(1 for k in new if not self._is_available(k, min_ready_s, now))
        max_scaled_down = len(owned) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        groups = self._old_groups(old)
        cleaned = 0
        for group in groups:
            unhealthy = sum(1 for k in group if not self._is_available(k, min_ready_s, now))
            count = min(max_scaled_down - cleaned, unhealthy)
            if count > 0:
                for pod_key in self._deletion_order(group, now)[:count]:
                    self._delete_pod(pod_key)
                cleaned += count
        if cleaned:
            return True
        available = sum(1 for k in owned if self._is_available(k, min_ready_s, now))
        budget = available - min_available
        if budget <= 0:
            return False
        for group in groups:
            count = min(len(group), budget)
            for pod_key in self._deletion_order(group, now)[:count]:
                self._delete_pod(pod_key)
            budget -= count
            if budget <= 0:
                break
        return True

    def _old_groups(self, old: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
        """Old pods by ReplicaSet (template hash), the oldest ReplicaSet first."""
        groups: dict[str, list[tuple[str, str]]] = {}
        for pod_key in old:
            groups.setdefault(self._pod_info[pod_key].template_hash, []).append(pod_key)
        return sorted(groups.values(), key=lambda group: min(self._pod_info[k].seq for k in group))

    def _scale_group(
        self,
        deployment: Mapping[str, Any],
        pod_hash: str,
        group: list[tuple[str, str]],
        wanted: int,
        now: float,
    ) -> bool:
        if len(group) < wanted:
            for _ in range(wanted - len(group)):
                self._create_pod(deployment, pod_hash, now)
            return True
        if len(group) > wanted:
            for pod_key in self._deletion_order(group, now)[: len(group) - wanted]:
                self._delete_pod(pod_key)
            return True
        return False

    def _update_deployment_status(self, key: tuple[str, str], now: float) -> None:
        deployment = self._deployments[key]
        spec = deployment["spec"]
        replicas = int(spec.get("replicas", 1))
        min_ready_s = float(spec.get("minReadySeconds", 0))
        pod_hash = template_hash(spec["template"])
        owned = self._owned_pods(key)
        updated = sum(1 for k in owned if self._pod_info[k].template_hash == pod_hash)
        ready = sum(1 for k in owned if self._is_ready(self._pod_info[k], now))
        available = sum(1 for k in owned if self._is_available(k, min_ready_s, now))
        previous = deployment.get("status") or {}
        counts = {
            "replicas": len(owned),
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(0, replicas - available),
        }
        progress_marker = (counts["updatedReplicas"], counts["replicas"], counts["availableReplicas"])
        if any(
            previous.get(field, 0) != value
            for field, value in zip(
                ("updatedReplicas", "replicas", "availableReplicas"), progress_marker, strict=True
            )
        ):
            self._last_progress[key] = now
        complete = updated == replicas == len(owned) and available >= replicas
        _, unavailable = _surge_and_unavailable(spec, replicas)
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            unavailable = 0
        rs_name = f"{key[1]}-{pod_hash}"
        deadline = float(spec.get("progressDeadlineSeconds", 600))
        if complete:
            progressing = (
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{rs_name}" has successfully progressed.',
            )
        elif now - self._last_progress.get(key, now) > deadline:
            progressing = (
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{rs_name}" has timed out progressing.',
            )
        else:
            progressing = ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        if available >= replicas - unavailable:
            available_condition = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            available_condition = (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        old_conditions = {c.get("type"): c for c in previous.get("conditions") or []}
        conditions = [
            _condition(old_conditions.get("Available"), "Available", available_condition, now),
            _condition(old_conditions.get("Progressing"), "Progressing", progressing, now),
        ]
        status: dict[str, Any] = {"observedGeneration": int(deployment["metadata"].get("generation", 1))}
        status.update({field: value for field, value in counts.items() if value})
        status["conditions"] = conditions
        if status != previous:
            deployment["status"] = status
            self._bump(deployment)


def _condition(
    previous: Mapping[str, Any] | None, kind: str, value: tuple[str, str, str], now: float
) -> dict[str, Any]:
    status, reason, message = value
    stamp = _timestamp(now)
    if previous and (previous.get("status"), previous.get("reason"), previous.get("message")) == value:
        return dict(previous)
    transition = (
        previous.get("lastTransitionTime", stamp) if previous and previous.get("status") == status else stamp
    )
    return {
        "type": kind,
        "status": status,
        "lastUpdateTime": stamp,
        "lastTransitionTime": transition,
        "reason": reason,
        "message": message,
    }


def _surge_and_unavailable(spec: Mapping[str, Any], replicas: int) -> tuple[int, int]:
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}
    surge = resolve_int_or_percent(rolling.get("maxSurge"), replicas, round_up=True, field="maxSurge")
    unavailable = resolve_int_or_percent(
        rolling.get("maxUnavailable"), replicas, round_up=False, field="maxUnavailable"
    )
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the controller's rule, so a rollout can always progress
    return surge, min(unavailable, replicas)
