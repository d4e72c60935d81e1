"""HorizontalPodAutoscalers on vLLM's gauges, through the official client's autoscaling/v2 API.

An autoscaler the agents manage is named as its Deployment and holds one Pods metric (a vLLM gauge that a
Prometheus adapter or KEDA serves per pod) at an average target. Anything else found under that name is
reported as foreign and never touched. Every change is idempotent and says what it replaced, so a
compensation can put back exactly what was there (or remove what was not)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from optiinfra.domain.kube import DeploymentRef, PodsMetricAutoscaler, parse_kube_quantity
from optiinfra.kube.deployments import Deployments, KubeActionError


class AutoscalerChange(BaseModel):
    """What an apply or a removal did: the autoscaler before and after (None: there was none / is none)."""

    model_config = ConfigDict(frozen=True)

    ref: DeploymentRef
    previous: PodsMetricAutoscaler | None
    current: PodsMetricAutoscaler | None

    @property
    def changed(self) -> bool:
        return self.previous != self.current

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        if not self.changed:
            state = self.current.describe() if self.current else "none"
            return f"autoscaler of {self.ref} already as wanted ({state})"
        if self.current is None:
            return f"removed the autoscaler of {self.ref}"
        if self.previous is None:
            return f"created an autoscaler for {self.ref}: {self.current.describe()}"
        return f"changed the autoscaler of {self.ref} to {self.current.describe()}"


def parse_autoscaler(ref: DeploymentRef, obj: dict[str, Any]) -> PodsMetricAutoscaler | str:
    """The managed shape read back from the API's JSON, or what the object is when it is something else."""
    spec = obj.get("spec") or {}
    target = spec.get("scaleTargetRef") or {}
    metrics = spec.get("metrics") or []
    if target.get("kind") != "Deployment" or target.get("name") != ref.name:
        return f"an autoscaler named {ref.name} that scales {target.get('kind')} {target.get('name')}"
    if len(metrics) != 1 or metrics[0].get("type") != "Pods":
        kinds = ", ".join(str(m.get("type")) for m in metrics) or "no metrics"
        return f"an autoscaler on {kinds}"
    pods = metrics[0].get("pods") or {}
    goal = pods.get("target") or {}
    if goal.get("type") != "AverageValue":
        return f"an autoscaler with a {goal.get('type')} target"
    window = ((spec.get("behavior") or {}).get("scaleDown") or {}).get("stabilizationWindowSeconds")
    try:
        return PodsMetricAutoscaler(
            ref=ref,
            min_replicas=int(spec.get("minReplicas", 1)),
            max_replicas=int(spec["maxReplicas"]),
            target_per_pod=parse_kube_quantity(goal.get("averageValue")),
            metric=str((pods.get("metric") or {}).get("name")),
            scale_down_window_s=300 if window is None else int(window),
        )
    except (KeyError, TypeError, ValueError) as error:
        return f"an autoscaler this service cannot read: {error}"


class Autoscalers:
    """The autoscalers of one cluster, over the `Deployments` adapter's client and error handling."""

    def __init__(self, deployments: Deployments) -> None:
        self._deployments = deployments
        self._api: Any = deployments.autoscaling_api

    async def read(self, ref: DeploymentRef) -> PodsMetricAutoscaler | str | None:
        """The managed autoscaler of `ref`; a description when one of another shape holds the name; None
        when there is none."""
        raw = await self._read_json(ref)
        return None if raw is None else parse_autoscaler(ref, raw)

    async def apply(self, wanted: PodsMetricAutoscaler) -> AutoscalerChange:
        """Create or replace the autoscaler so it is `wanted`; refuses to overwrite a foreign one."""
        ref = wanted.ref
        raw = await self._read_json(ref)
        previous = None if raw is None else parse_autoscaler(ref, raw)
        if isinstance(previous, str):
            raise KubeActionError("Foreign", f"{ref}: {previous}; it is left as it is")
        if previous == wanted:
            return AutoscalerChange(ref=ref, previous=previous, current=wanted)
        body = wanted.manifest()
        if raw is None:
            await self._deployments.call(
                f"create autoscaler {ref}",
                self._api.create_namespaced_horizontal_pod_autoscaler,
                ref.namespace,
                body,
            )
        else:
            body["metadata"]["resourceVersion"] = (raw.get("metadata") or {}).get("resourceVersion")
            await self._deployments.call(
                f"replace autoscaler {ref}",
                self._api.replace_namespaced_horizontal_pod_autoscaler,
                ref.name,
                ref.namespace,
                body,
            )
        return AutoscalerChange(ref=ref, previous=previous, current=wanted)

    async def remove(self, ref: DeploymentRef) -> AutoscalerChange:
        """Delete the managed autoscaler of `ref` (nothing to do when there is none)."""
        raw = await self._read_json(ref)
        if raw is None:
            return AutoscalerChange(ref=ref, previous=None, current=None)
        previous = parse_autoscaler(ref, raw)
        if isinstance(previous, str):
            raise KubeActionError("Foreign", f"{ref}: {previous}; it is left as it is")
        await self._deployments.call(
            f"delete autoscaler {ref}",
            self._api.delete_namespaced_horizontal_pod_autoscaler,
            ref.name,
            ref.namespace,
        )
        return AutoscalerChange(ref=ref, previous=previous, current=None)

    async def _read_json(self, ref: DeploymentRef) -> dict[str, Any] | None:
        try:
            found = await self._deployments.call(
                f"read autoscaler {ref}",
                self._api.read_namespaced_horizontal_pod_autoscaler,
                ref.name,
                ref.namespace,
            )
        except KubeActionError as error:
            if error.status == 404:
                return None
            raise
        return self._deployments.as_json(found)
