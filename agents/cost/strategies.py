"""The Cost agent's entry point: run every strategy and rank what they found."""

from collections.abc import Sequence

from agents.cost.autoscaling import AutoscalingParams, analyze_autoscaling
from agents.cost.reserved import ReservedCapacityParams, analyze_reserved_capacity
from agents.cost.rightsizing import RightSizingParams, analyze_right_sizing
from agents.cost.spot import SpotMigrationParams, analyze_spot_migration
from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import AnalysisResult, Proposal


def analyze_cost(
    snapshot: WorkloadSnapshot,
    spot: SpotMigrationParams | None = None,
    right_sizing: RightSizingParams | None = None,
    reserved: ReservedCapacityParams | None = None,
    autoscaling: AutoscalingParams | None = None,
    *,
    requests: Sequence[AgentRequest] = (),
) -> AnalysisResult:
    """Proposals ranked by monthly savings. Strategies that change the same replicas are alternatives:
    the caller executes one of them at a time. Spot migration waits for right-sizing (the group is built
    on the replicas' settled type and count), and a reservation is only proposed once no other strategy
    would still change the fleet, so the commitment is sized on the fleet's settled shape."""
    result = AnalysisResult()
    for request in requests:
        if request.kind is AgentRequestKind.CHEAPER_GPU_MAY_FIT:
            result.notes.append(
                f"looked for a cheaper GPU at the {request.from_agent.value} agent's request "
                f"({request.reason}); right-sizing reads the GPU memory measured since then"
            )
    sizing = analyze_right_sizing(snapshot, right_sizing)
    if isinstance(sizing, Proposal):
        # The spot group takes the replicas' type and count as they are, and a group's replicas are not
        # right-sized in place: the type and count are settled first, as a reservation waits for the rest.
        moving: Proposal | str = (
            "spot migration: deferred until right-sizing settles the replicas' type and count"
        )
    else:
        moving = analyze_spot_migration(snapshot, spot)
    structural = (sizing, moving, analyze_autoscaling(snapshot, autoscaling))
    for outcome in structural:
        if isinstance(outcome, Proposal):
            result.proposals.append(outcome)
        else:
            result.notes.append(outcome)
    if result.proposals:
        pending = ", ".join(p.type.value for p in result.proposals)
        result.notes.append(f"reserved capacity: deferred until the fleet settles ({pending} first)")
    else:
        commitment = analyze_reserved_capacity(snapshot, reserved)
        if isinstance(commitment, Proposal):
            result.proposals.append(commitment)
        else:
            result.notes.append(commitment)
    result.proposals.sort(key=lambda p: p.estimated_monthly_savings_usd, reverse=True)
    return result
