"""Closed vocabularies of the domain."""

from enum import StrEnum


class AgentKind(StrEnum):
    COST = "cost"
    PERFORMANCE = "performance"
    RESOURCE = "resource"
    APPLICATION = "application"


class OperatingMode(StrEnum):
    """How much a customer lets the agents act alone. New customers start in advisory."""

    ADVISORY = "advisory"
    SEMI_AUTONOMOUS = "semi_autonomous"
    AUTONOMOUS = "autonomous"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        return _RISK_RANK[self]


_RISK_RANK = {RiskLevel.LOW: 0, RiskLevel.MEDIUM: 1, RiskLevel.HIGH: 2}


class RecommendationType(StrEnum):
    SPOT_MIGRATION = "spot_migration"
    RIGHT_SIZING = "right_sizing"
    RESERVED_CAPACITY = "reserved_capacity"
    AUTOSCALING_POLICY = "autoscaling_policy"
    REPLICA_SCALING = "replica_scaling"
    SERVING_TUNING = "serving_tuning"
    KV_TIERING = "kv_tiering"
    OOM_PREVENTION = "oom_prevention"
    CONTEXT_RIGHT_SIZING = "context_right_sizing"
    MODEL_ROUTING = "model_routing"
    PROMPT_EFFICIENCY = "prompt_efficiency"
    RAG_TUNING = "rag_tuning"


class RecommendationStatus(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    EXECUTING = "executing"
    EXECUTED = "executed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    """Approved, but the objects it acts on changed since it was computed: no step ran."""

    @property
    def is_final(self) -> bool:
        return self in _FINAL_STATUSES


_FINAL_STATUSES = {
    RecommendationStatus.REJECTED,
    RecommendationStatus.EXPIRED,
    RecommendationStatus.EXECUTED,
    RecommendationStatus.ROLLED_BACK,
    RecommendationStatus.FAILED,
    RecommendationStatus.SUPERSEDED,
}


class RequestRouting(StrEnum):
    """How requests reach a workload's replicas, which decides what each replica's prefix cache sees."""

    ROUND_ROBIN = "round_robin"
    """No regard to prefixes (a Kubernetes Service, round-robin or random): every cache sees a slice."""
    LEAST_REQUEST = "least_request"
    """To the replica with the fewest requests in flight: balanced, with no prefix affinity either."""
    PREFIX_AWARE = "prefix_aware"
    """To the replica holding the longest cached prefix, within a load bound (a prefix-aware gateway)."""

    @property
    def prefix_affine(self) -> bool:
        return self is RequestRouting.PREFIX_AWARE

    @property
    def replayed_as(self) -> "RequestRouting":
        """The routing whose replay stands for this one: least-request spreads a conversation's requests
        over the replicas as round-robin does, so their caches see the same slices."""
        return RequestRouting.ROUND_ROBIN if self is RequestRouting.LEAST_REQUEST else self


class PurchaseOption(StrEnum):
    ON_DEMAND = "on_demand"
    SPOT = "spot"


class UtilizationMetric(StrEnum):
    """Per-instance utilization series, all in percent (0-100)."""

    GPU_UTILIZATION = "gpu_utilization"
    GPU_MEMORY_UTILIZATION = "gpu_memory_utilization"
    CPU_UTILIZATION = "cpu_utilization"
    MEMORY_UTILIZATION = "memory_utilization"


class StepAction(StrEnum):
    """Cloud actions an execution step (or its compensation) performs."""

    LAUNCH_REPLACEMENT = "launch_replacement"
    TERMINATE_LAUNCHED = "terminate_launched"
    STOP_INSTANCE = "stop_instance"
    START_INSTANCE = "start_instance"
    MODIFY_INSTANCE_TYPE = "modify_instance_type"
    TERMINATE_INSTANCE = "terminate_instance"
    PURCHASE_RESERVED_INSTANCES = "purchase_reserved_instances"
    UPDATE_SCALING_GROUP = "update_scaling_group"
    PUT_SCALING_POLICY = "put_scaling_policy"
    DELETE_SCALING_POLICY = "delete_scaling_policy"
    CREATE_SPOT_GROUP = "create_spot_group"
    DELETE_SPOT_GROUP = "delete_spot_group"
    SCALE_DEPLOYMENT = "scale_deployment"
    SET_VLLM_ARGS = "set_vllm_args"
    DRAIN_PODS = "drain_pods"
    RESTORE_PODS = "restore_pods"
    APPLY_AUTOSCALER = "apply_autoscaler"
    REMOVE_AUTOSCALER = "remove_autoscaler"

    @property
    def commits_spend(self) -> bool:
        """A purchase that binds the customer to pay for a term: a person must always approve it."""
        return self is StepAction.PURCHASE_RESERVED_INSTANCES

    @property
    def on_kubernetes(self) -> bool:
        """Carried out through the Kubernetes API rather than the cloud's."""
        return self in _KUBERNETES_ACTIONS


_KUBERNETES_ACTIONS = {
    StepAction.SCALE_DEPLOYMENT,
    StepAction.SET_VLLM_ARGS,
    StepAction.DRAIN_PODS,
    StepAction.RESTORE_PODS,
    StepAction.APPLY_AUTOSCALER,
    StepAction.REMOVE_AUTOSCALER,
}


class StepPhase(StrEnum):
    """`apply` steps run before verification and are compensated on failure; `finalize` steps
    (irreversible, such as terminating the replaced instances) run only once verification passed."""

    APPLY = "apply"
    FINALIZE = "finalize"


class StepStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    COMPENSATED = "compensated"
    COMPENSATION_FAILED = "compensation_failed"


class DecisionKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
