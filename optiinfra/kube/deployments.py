"""The Kubernetes adapter: reads vLLM Deployments and changes them (scale, vLLM arguments, draining pods)
through the official `kubernetes` client.

In production it talks to the cluster of the kubeconfig, the pod's service account, or an explicit URL;
in the embedded default and in tests the same client talks over HTTP to the twin's endpoint
(`optiinfra.sim.kube`). The client is synchronous, so every call runs in `asyncio.to_thread`. Its
objects never leave this module: they are converted to `optiinfra.domain.kube` models at once.

Every change is idempotent (a retried activity finds the target state and writes nothing) and every
failure is a `KubeActionError` that says whether retrying can help."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from pydantic import BaseModel, ConfigDict, computed_field

from optiinfra.cloud.call_rate import process_call_rates
from optiinfra.domain.kube import (
    DELETION_COST_ANNOTATION,
    DRAINED_DELETION_COST,
    INSTANCE_TYPE_LABEL,
    POD_TEMPLATE_HASH_LABEL,
    SERVE_LABEL,
    DeploymentRef,
    DeploymentState,
    PodState,
)
from optiinfra.kube.vllm_args import describe_change
from optiinfra.settings import Settings

GPU_RESOURCE = "nvidia.com/gpu"
VLLM_CONTAINER = "vllm"
REQUEST_TIMEOUT_S = 30.0
SCALE_CONFLICT_ATTEMPTS = 3


class KubeActionError(Exception):
    """A Kubernetes call that failed. `code` is the API's Status reason (NotFound, Conflict, Invalid,
    InternalError, ...) or one of this adapter's (Unreachable, RolloutTimeout, ContainerNotFound,
    PodNotInDeployment). `retryable`: 429, 5xx, 409 Conflict and unreachable API servers are; the rest
    (404, 403, 422, 400, a failed JSON-patch `test`, a rollout timeout) are not."""

    def __init__(self, code: str, message: str, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.code, self.message, self.retryable, self.status))

    @classmethod
    def from_api_exception(cls, error: Any, context: str) -> KubeActionError:
        """From the client's ApiException, whose body is a v1 Status when the API server answered."""
        status = int(error.status) if getattr(error, "status", None) else None
        reason = str(getattr(error, "reason", "") or "").replace(" ", "") or "Unknown"
        message = str(getattr(error, "body", "") or reason)
        try:
            body = json.loads(error.body) if getattr(error, "body", None) else None
        except (TypeError, ValueError):
            body = None
        if isinstance(body, dict):
            reason = str(body.get("reason") or reason)
            message = str(body.get("message") or message)
        retryable = status is not None and (
            status == 429 or status >= 500 or (status == 409 and reason == "Conflict")
        )
        return cls(reason, f"{context}: {message}", retryable, status)


class ScaleChange(BaseModel):
    """The outcome of `Deployments.scale`; `previous == replicas` when nothing had to be written."""

    model_config = ConfigDict(frozen=True)

    ref: DeploymentRef
    previous: int
    replicas: int

    @property
    def changed(self) -> bool:
        return self.previous != self.replicas

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        if not self.changed:
            return f"{self.ref} already at {self.replicas} replicas"
        return f"scaled {self.ref} from {self.previous} to {self.replicas} replicas"


class ArgsChange(BaseModel):
    """The outcome of `Deployments.set_args`; `previous == args` when nothing had to be written."""

    model_config = ConfigDict(frozen=True)

    ref: DeploymentRef
    container: str
    previous: list[str]
    args: list[str]

    @property
    def changed(self) -> bool:
        return self.previous != self.args

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        if not self.changed:
            return f"args of container {self.container} in {self.ref} already as wanted"
        change = describe_change(self.previous, self.args)
        return f"changed args of container {self.container} in {self.ref}: {change} (rolling update started)"


def selector_string(selector: Mapping[str, Any] | None) -> str:
    """A Deployment's LabelSelector in the string form list calls take."""
    if not selector:
        return ""
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator")
        values = ",".join(sorted(expression.get("values") or []))
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }.get(str(operator), key)
        )
    return ",".join(parts)


def container_index(containers: Sequence[Mapping[str, Any]], name: str | None = None) -> int:
    """Index of the named container; unnamed: "vllm" if present, else the first."""
    names = [str(c.get("name", "")) for c in containers]
    if name is not None:
        if name not in names:
            raise KubeActionError("ContainerNotFound", f"no container {name!r} (have {names})")
        return names.index(name)
    if not names:
        raise KubeActionError("ContainerNotFound", "the pod template has no containers")
    return names.index(VLLM_CONTAINER) if VLLM_CONTAINER in names else 0


def _int_or_none(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _gpus(container: Mapping[str, Any]) -> int:
    limits = (container.get("resources") or {}).get("limits") or {}
    value = limits.get(GPU_RESOURCE)
    try:
        return int(float(str(value))) if value is not None else 0
    except ValueError:
        return 0


def _owned_by(pod: Mapping[str, Any], deployment: str) -> bool:
    """Whether a pod belongs to one of the deployment's ReplicaSets (named `{deployment}-{hash}`)."""
    metadata = pod.get("metadata") or {}
    pod_hash = (metadata.get("labels") or {}).get(POD_TEMPLATE_HASH_LABEL)
    return any(
        ref.get("kind") == "ReplicaSet" and ref.get("name") == f"{deployment}-{pod_hash}"
        for ref in metadata.get("ownerReferences") or []
    )


def pod_state(pod: Mapping[str, Any], container: str) -> PodState:
    """A v1 Pod (as JSON) in the domain's terms; `container` names the vLLM container."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )
    containers = spec.get("containers") or []
    vllm = next((c for c in containers if c.get("name") == container), containers[0] if containers else {})
    statuses = status.get("containerStatuses") or []
    vllm_status: dict[str, Any] = next((c for c in statuses if c.get("name") == vllm.get("name")), {})
    terminated = ((vllm_status.get("lastState") or {}).get("terminated")) or {}
    return PodState(
        name=str(metadata.get("name", "")),
        ready=ready,
        serving=labels.get(SERVE_LABEL) != "false",
        phase=str(status.get("phase") or "Unknown"),
        node_name=spec.get("nodeName"),
        pod_ip=status.get("podIP"),
        deletion_cost=_int_or_none(annotations.get(DELETION_COST_ANNOTATION)),
        template_hash=labels.get(POD_TEMPLATE_HASH_LABEL),
        created_at=metadata.get("creationTimestamp"),
        args=list(vllm.get("args") or []),
        restarts=int(vllm_status.get("restartCount") or 0),
        last_termination_reason=terminated.get("reason"),
    )


def deployment_state(
    ref: DeploymentRef, deployment: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]
) -> DeploymentState:
    """An apps/v1 Deployment and the pods its selector lists (as JSON) in the domain's terms. Pods of
    other owners and terminating pods are left out."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    pod_spec = (spec.get("template") or {}).get("spec") or {}
    containers = pod_spec.get("containers") or []
    index = container_index(containers)
    container = containers[index]
    live = [
        pod
        for pod in pods
        if _owned_by(pod, ref.name) and not (pod.get("metadata") or {}).get("deletionTimestamp")
    ]
    return DeploymentState(
        ref=ref,
        replicas=int(spec.get("replicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        updated_replicas=int(status.get("updatedReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
        generation=int(metadata.get("generation") or 0),
        observed_generation=int(status.get("observedGeneration") or 0),
        container=str(container.get("name", "")),
        args=list(container.get("args") or []),
        gpus_per_replica=_gpus(container),
        node_instance_type=(pod_spec.get("nodeSelector") or {}).get(INSTANCE_TYPE_LABEL),
        pods=[pod_state(pod, str(container.get("name", ""))) for pod in live],
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


class Deployments:
    """Deployments of one cluster, reached through an `ApiClient` this object owns (see `close`)."""

    def __init__(
        self, api_client: k8s_client.ApiClient, *, request_timeout_s: float = REQUEST_TIMEOUT_S
    ) -> None:
        self._api_client: Any = api_client
        self._apps: Any = k8s_client.AppsV1Api(api_client)
        self._core: Any = k8s_client.CoreV1Api(api_client)
        self.autoscaling_api: Any = k8s_client.AutoscalingV2Api(api_client)
        self._timeout = request_timeout_s

    @classmethod
    def from_settings(cls, settings: Settings) -> Deployments:
        """`kube_api_url` (with `kube_api_token` as bearer token) when set; else the pod's service account
        when `kube_in_cluster`; else the kubeconfig (optionally `kube_context`). Each call builds its own
        Configuration, leaving the client's global default alone."""
        if settings.kube_api_url:
            token = settings.kube_api_token.get_secret_value() if settings.kube_api_token else None
            return cls.for_url(settings.kube_api_url, token)
        configuration: Any = k8s_client.Configuration()
        if settings.kube_in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                context=settings.kube_context or None,
                client_configuration=configuration,
                persist_config=False,
            )
        return cls(k8s_client.ApiClient(configuration))

    @classmethod
    def for_url(cls, url: str, token: str | None = None) -> Deployments:
        """An API server at `url` (http or https), with an optional bearer token."""
        configuration: Any = k8s_client.Configuration(host=url.rstrip("/"))
        if token:
            configuration.api_key = {"authorization": token}
            configuration.api_key_prefix = {"authorization": "Bearer"}
        return cls(k8s_client.ApiClient(configuration))

    async def close(self) -> None:
        await asyncio.to_thread(self._api_client.close)

    async def call(self, context: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One client call off the event loop, at the cluster's rate (`optiinfra.cloud.call_rate`), its
        failures as `KubeActionError` (sibling adapters sharing this client, e.g. `autoscalers.Autoscalers`,
        call through it too)."""
        bucket = process_call_rates().kube(self._api_client.configuration.host)
        if bucket is not None:
            await bucket.acquire()
        try:
            return await asyncio.to_thread(method, *args, _request_timeout=self._timeout, **kwargs)
        except k8s_client.ApiException as error:
            raise KubeActionError.from_api_exception(error, context) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise KubeActionError("Unreachable", f"{context}: {error}", True) from error

    def as_json(self, obj: Any) -> dict[str, Any]:
        """A client model as the API's JSON (camelCase keys), the form every parser here reads."""
        converted = self._api_client.sanitize_for_serialization(obj)
        return converted if isinstance(converted, dict) else {}

    async def _read_json(self, ref: DeploymentRef) -> dict[str, Any]:
        found = await self.call(f"read {ref}", self._apps.read_namespaced_deployment, ref.name, ref.namespace)
        return self.as_json(found)

    async def read(self, ref: DeploymentRef) -> DeploymentState:
        """The Deployment's spec, rollout status and pods."""
        deployment = await self._read_json(ref)
        selector = selector_string((deployment.get("spec") or {}).get("selector"))
        pods = await self.call(
            f"list pods of {ref}", self._core.list_namespaced_pod, ref.namespace, label_selector=selector
        )
        return deployment_state(ref, deployment, [self.as_json(pod) for pod in pods.items or []])

    async def scale(self, ref: DeploymentRef, replicas: int) -> ScaleChange:
        """Set spec.replicas through the scale subresource. Already there: nothing is written.

        The write carries the resourceVersion it read, so `previous` is exactly what it replaced; a
        conflict (the object changed in between, a status update included) is re-read and retried a few
        times before it surfaces as a retryable 409 Conflict."""
        if replicas < 0:
            raise ValueError(f"replicas cannot be negative, got {replicas}")
        for attempt in range(SCALE_CONFLICT_ATTEMPTS):
            scale = self.as_json(
                await self.call(
                    f"read scale of {ref}",
                    self._apps.read_namespaced_deployment_scale,
                    ref.name,
                    ref.namespace,
                )
            )
            previous = int((scale.get("spec") or {}).get("replicas") or 0)
            if previous == replicas:
                break
            body: dict[str, Any] = {"spec": {"replicas": replicas}}
            version = (scale.get("metadata") or {}).get("resourceVersion")
            if version:
                body["metadata"] = {"resourceVersion": version}
            try:
                await self.call(
                    f"scale {ref} to {replicas}",
                    self._apps.patch_namespaced_deployment_scale,
                    ref.name,
                    ref.namespace,
                    body,
                )
            except KubeActionError as error:
                if error.code == "Conflict" and attempt + 1 < SCALE_CONFLICT_ATTEMPTS:
                    continue
                raise
            break
        return ScaleChange(ref=ref, previous=previous, replicas=replicas)

    async def set_args(
        self,
        ref: DeploymentRef,
        args: list[str],
        *,
        expected: list[str] | None = None,
        container: str | None = None,
    ) -> ArgsChange:
        """Replace the container's args in the pod template (a JSON patch, which starts a rolling update).

        Already equal: nothing is written. With `expected`, the patch first tests that the args still are
        those (and always that the container is still at its index), so a concurrent edit fails as a
        non-retryable 422 Invalid instead of being overwritten."""
        deployment = await self._read_json(ref)
        containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
            "containers"
        ) or []
        try:
            index = container_index(containers, container)
        except KubeActionError as error:
            raise KubeActionError(error.code, f"set args on {ref}: {error.message}") from error
        current = containers[index]
        name = str(current.get("name", ""))
        previous = list(current.get("args") or [])
        if previous == list(args):
            return ArgsChange(ref=ref, container=name, previous=previous, args=list(args))
        base = f"/spec/template/spec/containers/{index}"
        operations: list[dict[str, Any]] = [{"op": "test", "path": f"{base}/name", "value": name}]
        if expected is not None and ("args" in current or expected):
            operations.append({"op": "test", "path": f"{base}/args", "value": list(expected)})
        operations.append(
            {"op": "replace" if "args" in current else "add", "path": f"{base}/args", "value": list(args)}
        )
        await self.call(
            f"set args of container {name} in {ref}",
            self._apps.patch_namespaced_deployment,
            ref.name,
            ref.namespace,
            operations,
        )
        return ArgsChange(ref=ref, container=name, previous=previous, args=list(args))

    async def wait_rolled_out(
        self,
        ref: DeploymentRef,
        *,
        timeout_s: float,
        poll_s: float = 1.0,
        on_poll: Callable[[DeploymentState], None] | None = None,
    ) -> DeploymentState:
        """Poll until `state.rolled_out`, calling `on_poll` with every state read (an activity heartbeats
        there). Retryable read failures are polled through; a non-retryable one is raised at once. Not rolled
        out within `timeout_s` (wall clock): KubeActionError RolloutTimeout, not retryable."""
        deadline = time.monotonic() + timeout_s
        last: DeploymentState | None = None
        last_error: KubeActionError | None = None
        while True:
            try:
                state = await self.read(ref)
            except KubeActionError as error:
                if not error.retryable:
                    raise
                last_error = error
            else:
                last, last_error = state, None
                if on_poll is not None:
                    on_poll(state)
                if state.rolled_out:
                    return state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KubeActionError("RolloutTimeout", _timeout_message(ref, timeout_s, last, last_error))
            await asyncio.sleep(min(poll_s, remaining))

    async def set_serving(self, ref: DeploymentRef, pod_names: Sequence[str], serving: bool) -> list[str]:
        """Take pods out of traffic (serving=False) or put them back (True); returns the pods changed.

        Draining sets the label `optiinfra.io/serve: "false"` (a Service selecting on "true" stops routing
        to the pod, which stays in its ReplicaSet) and the annotation pod-deletion-cost "-1000" (so the next
        scale-down removes exactly these pods). Restoring sets the label to "true" and removes the
        annotation. Pods already in the wanted state are left alone. A pod that no longer exists is skipped:
        it is gone, which is what draining wanted, and there is nothing left to restore. A pod of another
        Deployment is refused (PodNotInDeployment, not retryable)."""
        label = "true" if serving else "false"
        cost = None if serving else str(DRAINED_DELETION_COST)
        changed: list[str] = []
        for name in dict.fromkeys(pod_names):
            try:
                pod = self.as_json(
                    await self.call(
                        f"read pod {name} of {ref}", self._core.read_namespaced_pod, name, ref.namespace
                    )
                )
            except KubeActionError as error:
                if error.status == 404:
                    continue
                raise
            if not _owned_by(pod, ref.name):
                raise KubeActionError(
                    "PodNotInDeployment", f"pod {ref.namespace}/{name} is not a pod of {ref}"
                )
            metadata = pod.get("metadata") or {}
            labels = metadata.get("labels") or {}
            annotations = metadata.get("annotations") or {}
            if labels.get(SERVE_LABEL) == label and annotations.get(DELETION_COST_ANNOTATION) == cost:
                continue
            patch = {
                "metadata": {"labels": {SERVE_LABEL: label}, "annotations": {DELETION_COST_ANNOTATION: cost}}
            }
            try:
                await self.call(
                    f"mark pod {name} of {ref} serving={label}",
                    self._core.patch_namespaced_pod,
                    name,
                    ref.namespace,
                    patch,
                )
            except KubeActionError as error:
                if error.status == 404:
                    continue
                raise
            changed.append(name)
        return changed


def _timeout_message(
    ref: DeploymentRef, timeout_s: float, state: DeploymentState | None, error: KubeActionError | None
) -> str:
    message = f"{ref} not rolled out within {timeout_s:g}s"
    if state is not None:
        message += (
            f": generation {state.generation} observed {state.observed_generation}, "
            f"{state.updated_replicas} updated, {state.ready_replicas} ready, {state.available_replicas} "
            f"available of {state.replicas} replicas, {len(state.pods)} pods"
        )
    if error is not None:
        message += f"; last read failed: {error}"
    return message
