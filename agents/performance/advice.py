"""Advice the agent gives without acting on it, since it changes things outside the Deployment's vLLM
arguments: the load-balancing policy of the router in front of the replicas, and the tensor-parallel degree
(which changes GPUs per pod, hence the node pool)."""

import statistics
from collections.abc import Sequence
from dataclasses import replace

from agents.performance.serving import ServingContext
from optiinfra.capacity import memory_budget
from optiinfra.domain.performance import ReplicaLoad

IMBALANCE_CV = 0.15
"""Spread of per-replica request rates (coefficient of variation) above which round-robin is not enough."""
PREFIX_AWARE_HIT_RATE = 0.15
"""Prefix-cache hit rate above which keeping a conversation on one replica pays."""
MIN_TP_GAIN = 0.10


def balancing_advice(loads: Sequence[ReplicaLoad], capacities: dict[str, float]) -> str | None:
    """The routing policy that fits the replicas' measured traffic; None with fewer than two replicas.
    `capacities` is req/s within the SLO per instance type, for weighting a mixed fleet."""
    if len(loads) < 2:
        return None
    rates = [load.request_rate for load in loads]
    mean = statistics.fmean(rates)
    spread = statistics.pstdev(rates) / mean if mean > 0 else 0.0
    types = sorted({load.instance_type for load in loads if load.instance_type})
    hits = [load.prefix_hit_rate for load in loads if load.prefix_hit_rate is not None]
    hit_rate = statistics.fmean(hits) if hits else 0.0
    if len(types) > 1 and all(t in capacities for t in types):
        weights = ", ".join(f"{t}: {capacities[t]:.2f}" for t in types)
        return (
            f"Load balancing: replicas run on {len(types)} GPU types; weight routing by each type's "
            f"capacity within the SLO (req/s {weights}) rather than splitting evenly."
        )
    if hit_rate >= PREFIX_AWARE_HIT_RATE:
        return (
            f"Load balancing: {hit_rate:.0%} of prompt tokens hit the prefix cache; prefix-aware routing "
            f"(send requests sharing a prefix to the replica holding it) keeps those hits as replicas are "
            f"added or removed, with least-requests as the tie-break."
        )
    if spread > IMBALANCE_CV:
        return (
            f"Load balancing: per-replica request rates vary by {spread:.0%} (coefficient of variation); "
            f"route by least outstanding requests instead of round-robin."
        )
    return None


def tensor_parallel_advice(context: ServingContext) -> str | None:
    """A tensor-parallel degree that serves clearly more per node within the SLO, or None. Each candidate
    degree divides the node's GPUs; a node runs GPUs/degree replicas."""
    gpus = context.instance_type.gpu_count
    if gpus <= 1:
        return None
    current = context.config.gpu_count
    per_node: dict[int, float] = {}
    for degree in (d for d in range(1, gpus + 1) if gpus % d == 0):
        config = replace(context.config, gpu_count=degree)
        if not memory_budget(config).fits:
            continue
        capacity = context.current_capacity_rps if config == context.config else context.capacity_rps(config)
        per_node[degree] = (gpus // degree) * capacity
    if current not in per_node or not per_node:
        return None
    best = max(per_node, key=lambda degree: (per_node[degree], -degree))
    if per_node[best] < per_node[current] * (1 + MIN_TP_GAIN):
        return None
    return (
        f"Tensor parallelism: on {context.instance_type.name} ({gpus} GPUs), {gpus // best} replicas at "
        f"--tensor-parallel-size {best} serve {per_node[best]:.2f} req/s per node within the SLO against "
        f"{per_node[current]:.2f} at {current}; this changes GPUs per pod, so it is left to the operator."
    )
