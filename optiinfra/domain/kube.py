"""What the agents see of a vLLM workload that runs as a Kubernetes Deployment.

Plain pydantic models, importable without the `kubernetes` package: the adapter in `optiinfra.kube`
converts the client's objects into these at once, so workflows and activities never handle them."""

import re
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

SERVE_LABEL = "optiinfra.io/serve"
"""Pod label a Service selector includes: "false" takes the pod out of traffic (the drain mechanism)."""
DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
"""ReplicaSet scale-down removes pods with the lowest cost first (missing counts as 0)."""
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
"""Well-known node label a Deployment's nodeSelector uses to pin its pods to one instance type."""
POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
DRAINED_DELETION_COST = -1000
"""Deletion cost given to drained pods, so that the next scale-down removes exactly those."""

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"


class DeploymentRef(BaseModel):
    """A Deployment by namespace (a DNS-1123 label) and name (a DNS-1123 subdomain)."""

    model_config = ConfigDict(frozen=True)

    namespace: str = Field(pattern=DNS1123_LABEL, max_length=63)
    name: str = Field(pattern=DNS1123_SUBDOMAIN, max_length=253)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class PodState(BaseModel):
    """One pod of a Deployment, as the agents need it."""

    name: str
    ready: bool
    serving: bool = Field(
        description=f"{SERVE_LABEL} is not 'false': a Service selecting on it sends traffic"
    )
    phase: str
    node_name: str | None = None
    pod_ip: str | None = None
    deletion_cost: int | None = Field(default=None, description=DELETION_COST_ANNOTATION)
    template_hash: str | None = Field(default=None, description=POD_TEMPLATE_HASH_LABEL)
    created_at: datetime | None = None
    args: list[str] = Field(default_factory=list, description="The vLLM container's args in this pod")
    restarts: int = Field(default=0, ge=0, description="The vLLM container's restart count")
    last_termination_reason: str | None = Field(
        default=None, description="Why the vLLM container last stopped, e.g. OOMKilled"
    )


IN_FLIGHT_METRIC = "vllm:num_requests_running"
"""The per-pod vLLM gauge an autoscaler holds at a target: requests in the engine's batch. A Prometheus
adapter (or KEDA) serves it to the HorizontalPodAutoscaler as a Pods metric."""


class PodsMetricAutoscaler(BaseModel):
    """A HorizontalPodAutoscaler (autoscaling/v2) named as its Deployment, holding one vLLM gauge per pod
    at a target average between a floor and a ceiling."""

    model_config = ConfigDict(frozen=True)

    ref: DeploymentRef
    min_replicas: int = Field(ge=1)
    max_replicas: int = Field(ge=1)
    target_per_pod: float = Field(gt=0, description="The gauge's average per pod the autoscaler holds")
    metric: str = Field(default=IN_FLIGHT_METRIC, min_length=1)
    scale_down_window_s: int = Field(default=300, ge=0, le=3600)

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas}")
        return self

    def manifest(self) -> dict[str, Any]:
        """The object as the API takes it."""
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": self.ref.name, "namespace": self.ref.namespace},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": self.ref.name},
                "minReplicas": self.min_replicas,
                "maxReplicas": self.max_replicas,
                "metrics": [
                    {
                        "type": "Pods",
                        "pods": {
                            "metric": {"name": self.metric},
                            "target": {
                                "type": "AverageValue",
                                "averageValue": kube_quantity(self.target_per_pod),
                            },
                        },
                    }
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": self.scale_down_window_s}},
            },
        }

    def describe(self) -> str:
        return (
            f"{self.min_replicas}-{self.max_replicas} replicas holding {self.metric} at "
            f"{self.target_per_pod:g} per pod"
        )


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G)?$")
_SUFFIX = {None: 1.0, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}


def parse_kube_quantity(value: Any) -> float:
    """A Kubernetes quantity as a number ("4" -> 4.0, "1500m" -> 1.5); ValueError when it is not one."""
    if isinstance(value, bool):
        raise ValueError(f"not a quantity: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    matched = _QUANTITY.match(str(value).strip())
    if matched is None:
        raise ValueError(f"not a quantity: {value!r}")
    return float(matched.group(1)) * _SUFFIX[matched.group(2)]


def kube_quantity(value: float) -> str:
    """A Kubernetes quantity: whole units, else milli-units."""
    return str(round(value)) if abs(value - round(value)) < 1e-9 else f"{round(value * 1000)}m"


class DeploymentState(BaseModel):
    """A Deployment's spec and rollout status with its live (not terminating) pods."""

    ref: DeploymentRef
    replicas: int = Field(description="spec.replicas")
    ready_replicas: int = 0
    updated_replicas: int = 0
    available_replicas: int = 0
    generation: int = 0
    observed_generation: int = 0
    container: str = Field(description='The vLLM container: "vllm" if present, else the first')
    args: list[str] = Field(default_factory=list, description="That container's args in the pod template")
    gpus_per_replica: int = Field(default=0, description="resources.limits['nvidia.com/gpu'], 0 if none")
    node_instance_type: str | None = Field(default=None, description=f"nodeSelector[{INSTANCE_TYPE_LABEL}]")
    pods: list[PodState] = Field(default_factory=list)
    resource_version: str = ""
    autoscaler: PodsMetricAutoscaler | None = Field(
        default=None,
        description="The HorizontalPodAutoscaler named as the Deployment, when it is one of ours",
    )
    foreign_autoscaler: str | None = Field(
        default=None,
        description="An autoscaler of another shape scales this Deployment: what it is (the agents leave it)",
    )

    @property
    def rolled_out(self) -> bool:
        """The controller has seen the latest spec, every wanted replica runs the current template and is
        ready and available, and no pod of an older template is left.

        The pods carry no marker of the current template, so "no old pod" is read as: as many pods as
        updated replicas, all of one template."""
        if self.observed_generation < self.generation:
            return False
        counts = (self.updated_replicas, self.ready_replicas, self.available_replicas, len(self.pods))
        if any(count != self.replicas for count in counts):
            return False
        return len({pod.template_hash for pod in self.pods}) <= 1 and all(pod.ready for pod in self.pods)
