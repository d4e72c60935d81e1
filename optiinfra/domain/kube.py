"""What the agents see of a vLLM workload that runs as a Kubernetes Deployment.

Plain pydantic models, importable without the `kubernetes` package: the adapter in `optiinfra.kube`
converts the client's objects into these at once, so workflows and activities never handle them."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

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
