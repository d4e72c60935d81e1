"""AIBrix's GPU optimizer as a `bench plan` planner: for each hour of the typical day, its integer program
(Melange's, solved by CBC) picks the cheapest on-demand mix of instance types that carries the hour's
required rate, run from its own package in its own environment (`optiinfra.bench.peers.environment`).

What it is given is what the optimum and the live agent are given: the candidate types with their
on-demand price per hour, what one replica of each serves within the workload's objective (the capacity
layer's answer for the workload's request shape, as AIBrix's own profiles are measured per shape bucket, here
one bucket), and the hour's required rate (the forecast plus the same headroom). AIBrix plans on-demand
capacity only: it has no spot, reservations or zones, so the bench compares it with OptiInfra and the optimum
on the on-demand-only plans too. A type that another type matches or beats on both capacity and price is left
out (it can never make a mix cheaper; the exact optimum's own rule, `on_demand_candidates`), which keeps its
program small. A workload's minimum of steady replicas
is a rule every plan in the bench keeps: an hour where AIBrix's mix has fewer gets the difference on the
cheapest type per replica, and the report counts those hours."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agents.cost.plan.demand import HOURS_PER_DAY, WorkloadDemand
from agents.cost.plan.model import TypeAllocation, WorkloadPlan
from agents.cost.sizing import TypeCapacity
from optiinfra.bench.peers.process import PeerError, PeerProcess
from optiinfra.bench.plan_optimal import on_demand_candidates

STRATEGY = "aibrix-melange"


@dataclass(frozen=True)
class AibrixPlan:
    plan: WorkloadPlan
    raised_hours: int
    """Hours whose mix was raised to the workload's minimum of steady replicas."""


def solve_request(demand: WorkloadDemand, capacities: Sequence[TypeCapacity], hour: int) -> dict[str, object]:
    """The `solve` request for one hour: one profile per type on a one-bucket grid of the workload's
    mean request shape."""
    shape = demand.shape
    output_tokens = max(1, round(shape.mean_output_tokens))
    input_tokens = max(1, round(shape.mean_prompt_tokens))
    required = demand.required_rps(hour)
    return {
        "op": "solve",
        "profiles": [
            {
                "gpu": c.instance_type.name,
                "cost": c.instance_type.on_demand_hourly_usd,
                "tputs": [[c.capacity_rps]],
                "indexes": [[output_tokens], [input_tokens]],
            }
            for c in capacities
        ],
        "centroids": [{"input_tokens": input_tokens, "output_tokens": output_tokens, "rps": required}],
        "total_rps": required,
    }


def aibrix_plan(
    process: PeerProcess, demand: WorkloadDemand, capacities: Sequence[TypeCapacity]
) -> AibrixPlan:
    """AIBrix's mix for each hour of the day, as a plan the bench prices and replays."""
    candidates = on_demand_candidates(demand, capacities)
    if not candidates:
        raise PeerError(f"no candidate type serves {demand.workload.workload_id} for AIBrix to choose from")
    by_name = {c.instance_type.name: c for c in candidates}
    counts = {name: [0] * HOURS_PER_DAY for name in by_name}
    cheapest = min(candidates, key=lambda c: c.instance_type.on_demand_hourly_usd).instance_type.name
    minimum = demand.workload.min_on_demand_instances
    raised = 0
    for hour in range(HOURS_PER_DAY):
        mix = process.ask(solve_request(demand, candidates, hour))["mix"]
        if not isinstance(mix, dict) or set(mix) - set(by_name):
            raise PeerError(f"AIBrix answered a mix of types it was not given: {mix}")
        for name, count in mix.items():
            counts[name][hour] = int(count)
        short = minimum - sum(counts[name][hour] for name in counts)
        if short > 0:
            counts[cheapest][hour] += short
            raised += 1
    allocations = tuple(
        TypeAllocation(
            instance_type=by_name[name].instance_type,
            capacity_rps=by_name[name].capacity_rps,
            on_demand=tuple(hourly),
        )
        for name, hourly in counts.items()
        if any(hourly)
    )
    return AibrixPlan(WorkloadPlan(strategy=STRATEGY, allocations=allocations), raised)
