"""What one replica of a Kubernetes-served workload is: its instance type, its vLLM serving configuration
read from the Deployment's arguments, the request shape measured from its windows, and what the capacity
model says it carries within the SLO and what latency it should show at a given load."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from agents.cost.pricing import monthly
from agents.performance.slo import SloTarget
from agents.request_shape import measured_token_shape
from optiinfra.capacity import ServingConfig, kv_capacity_tokens, memory_budget
from optiinfra.capacity.estimate import CapacityEstimator, SloCapacity
from optiinfra.capacity.models import capacity_model_for
from optiinfra.capacity.shape import TokenShape
from optiinfra.capacity.vllm_config import config_from_vllm_args
from optiinfra.capacity.vllm_launch import launch_refusal, sizes_cache_alike
from optiinfra.domain.fleet import InstanceType, WorkloadSnapshot
from optiinfra.domain.kube import INSTANCE_TYPE_LABEL, DeploymentState


@dataclass(frozen=True)
class ServingContext:
    """A workload's replica as deployed, ready for capacity questions."""

    deployment: DeploymentState
    instance_type: InstanceType
    config: ServingConfig
    shape: TokenShape
    target: SloTarget
    estimator: CapacityEstimator = field(default_factory=CapacityEstimator, compare=False)
    measured_kv_tokens: int | None = None
    """The replicas' KV cache in tokens as their engines report it (the smallest, latest); None when they
    do not say."""

    @property
    def kv_capacity_tokens(self) -> int:
        """Tokens one replica's KV cache holds: what the engine reports where it does, else the capacity
        model's memory budget for the configuration."""
        if self.measured_kv_tokens is not None:
            return self.measured_kv_tokens
        return kv_capacity_tokens(self.config)

    @property
    def kv_capacity_source(self) -> str:
        """Where `kv_capacity_tokens` comes from, as a recommendation states it."""
        if self.measured_kv_tokens is not None:
            return "as its vLLM reports it (cache_config_info)"
        return "by the capacity model's memory budget"

    @property
    def replica_hourly_usd(self) -> float:
        """One replica's share of its node: the whole node when it takes all of the node's GPUs."""
        gpus = self.deployment.gpus_per_replica or self.instance_type.gpu_count
        share = min(1.0, gpus / self.instance_type.gpu_count) if self.instance_type.gpu_count else 1.0
        return self.instance_type.on_demand_hourly_usd * share

    @property
    def replica_monthly_usd(self) -> float:
        return monthly(self.replica_hourly_usd)

    @cached_property
    def current_capacity(self) -> SloCapacity:
        """`capacity` of the replica as deployed, computed once (each is a search on the estimator)."""
        return self.capacity(self.config)

    @property
    def current_capacity_rps(self) -> float:
        return self.current_capacity.requests_per_s

    @cached_property
    def slo_concurrency(self) -> float:
        """Requests in flight on one replica serving its SLO capacity (what a `--max-num-seqs` cap must
        still admit); 1 when the replica cannot meet the objective at all."""
        rate = self.current_capacity_rps
        found = self.estimator.operating_point_at_rate(self.config, self.shape, rate) if rate > 0 else None
        return max(1.0, found.concurrency) if found is not None else 1.0

    @property
    def sources(self) -> str:
        """Where the figures come from, as a recommendation states it."""
        return (
            f"capacity from the {self.current_capacity.source.value} source, "
            f"request lengths from the {self.shape.source.value}"
        )

    def capacity(self, config: ServingConfig) -> SloCapacity:
        """Requests/s one replica with `config` serves with p95 TTFT and p95 ITL within the target, from
        the best capacity source for it."""
        return self.estimator.max_rps_under_slo(
            config, self.shape, self.target.ttft_p95_s, self.target.itl_p95_s
        )

    def capacity_rps(self, config: ServingConfig) -> float:
        return self.capacity(config).requests_per_s

    def launch_refusal(self, args: Sequence[str]) -> str | None:
        """Why vLLM would refuse to start this replica with `args` instead of its current arguments; None
        when it would start. Every proposal that changes the arguments asks first."""
        config = config_from_vllm_args(
            self.instance_type, self.config.model, args, gpus_per_replica=self.deployment.gpus_per_replica
        )
        measured = self.measured_kv_tokens if sizes_cache_alike(self.deployment.args, args) else None
        return launch_refusal(args, config, kv_capacity_tokens=measured)

    def expected_latency(self, rate_per_replica: float, *, means: bool = False) -> tuple[float, float] | None:
        """(TTFT, ITL) at this load per replica, p95s or with `means` the means, from the source the
        capacity comes from (a replica measured against it is compared with the same truth); None when it
        cannot serve the load."""
        found = self.estimator.operating_point_at_rate(self.config, self.shape, rate_per_replica)
        if found is None:
            return None
        if means:
            return found.ttft_mean_s, found.tpot_mean_s
        return found.ttft_p95_s, found.tpot_p95_s


def serving_config(
    instance_type: InstanceType, model_name: str, deployment: DeploymentState
) -> ServingConfig:
    """The capacity model's configuration for the Deployment's vLLM arguments (vLLM's defaults where the
    arguments say nothing)."""
    return config_from_vllm_args(
        instance_type,
        capacity_model_for(model_name),
        deployment.args,
        gpus_per_replica=deployment.gpus_per_replica,
    )


def serving_context(snapshot: WorkloadSnapshot, target: SloTarget) -> ServingContext | str:
    """The context, or why the workload cannot be reasoned about on the capacity model."""
    deployment = snapshot.deployment
    if deployment is None:
        return "it does not run as a Kubernetes Deployment"
    type_name = deployment.node_instance_type
    if type_name is None:
        return f"Deployment {deployment.ref} pins no instance type (nodeSelector {INSTANCE_TYPE_LABEL})"
    instance_type = snapshot.instance_types.get(type_name) or next(
        (t for t in snapshot.candidate_types if t.name == type_name), None
    )
    if instance_type is None:
        return f"instance type {type_name} is not in the price catalog"
    shape = measured_token_shape(snapshot.windows)
    if shape is None:
        return "no served requests measured in the last day"
    try:
        config = serving_config(instance_type, snapshot.workload.model_name, deployment)
    except (KeyError, ValueError) as error:
        return f"the capacity model cannot serve {snapshot.workload.model_name} on {type_name}: {error}"
    if not memory_budget(config).fits:
        return f"{snapshot.workload.model_name} does not fit {type_name} as configured"
    estimator = CapacityEstimator(
        profiles=snapshot.capacity_profiles, workload_id=snapshot.workload.workload_id
    )
    measured_kv = next(
        (int(w.kv_capacity_tokens) for w in reversed(snapshot.windows) if w.kv_capacity_tokens is not None),
        None,
    )
    return ServingContext(deployment, instance_type, config, shape, target, estimator, measured_kv)
