"""Which of the agents' proposals for one workload cannot both be carried out, and why.

Each proposal is read for what it does to the workload: whether it adds or removes serving capacity, moves
replicas to interruptible capacity, protects the latency objective, changes the accelerators, or sizes
memory on the current ones, and which objects (instances, groups, Deployments) its steps change. Two
proposals conflict by the most specific reason that applies to the pair."""

from dataclasses import dataclass
from itertools import combinations

from optiinfra.domain.coordination import Conflict, ConflictKind
from optiinfra.domain.enums import AgentKind, RecommendationType, StepAction
from optiinfra.domain.recommendation import Proposal

CAPACITY_TYPES = frozenset(
    {
        RecommendationType.REPLICA_SCALING,
        RecommendationType.RIGHT_SIZING,
        RecommendationType.AUTOSCALING_POLICY,
    }
)
"""Proposals whose purpose is the amount of serving capacity."""

MEMORY_SIZING_TYPES = frozenset(
    {
        RecommendationType.KV_TIERING,
        RecommendationType.OOM_PREVENTION,
        RecommendationType.CONTEXT_RIGHT_SIZING,
    }
)
"""Proposals sized on the GPU memory of the accelerators the workload runs on now."""

ACCELERATOR_CHANGES = frozenset({StepAction.MODIFY_INSTANCE_TYPE, StepAction.LAUNCH_REPLACEMENT})


@dataclass(frozen=True)
class ProposalEffect:
    """What a proposal does to the workload, as far as coordination needs to know."""

    capacity: int
    """+1 adds serving capacity, -1 removes it, 0 leaves it."""
    to_spot: bool
    protects_slo: bool
    changes_accelerator: bool
    sizes_gpu_memory: bool
    objects: frozenset[str]


def effect_of(proposal: Proposal) -> ProposalEffect:
    capacity = _capacity_direction(proposal)
    launches = [s for s in proposal.steps if s.action is StepAction.LAUNCH_REPLACEMENT]
    to_spot = proposal.type is RecommendationType.SPOT_MIGRATION or any(
        s.params.get("lifecycle") == "spot" for s in launches
    )
    current_types = {str(proposal.evidence.get("instance_type", ""))} - {""}
    changes_accelerator = any(s.action is StepAction.MODIFY_INSTANCE_TYPE for s in proposal.steps) or (
        proposal.type is RecommendationType.RIGHT_SIZING
        and any(s.params.get("instance_type") not in current_types for s in launches)
    )
    sizes_memory = proposal.type in MEMORY_SIZING_TYPES or (
        proposal.type is RecommendationType.SERVING_TUNING
        and any(s.action is StepAction.SET_VLLM_ARGS for s in proposal.steps)
    )
    protects = proposal.type is RecommendationType.OOM_PREVENTION or (
        proposal.agent is AgentKind.PERFORMANCE and capacity > 0
    )
    objects = frozenset(s.target for s in proposal.steps if s.target)
    return ProposalEffect(
        capacity=capacity,
        to_spot=to_spot,
        protects_slo=protects,
        changes_accelerator=changes_accelerator,
        sizes_gpu_memory=sizes_memory,
        objects=objects,
    )


def detect_conflicts(candidates: list[Proposal]) -> list[Conflict]:
    """Every pair of candidates that cannot both run, with the reason; ids `c1`, `c2`, ... in pair order."""
    effects = [effect_of(p) for p in candidates]
    conflicts: list[Conflict] = []
    for (i, first), (j, second) in combinations(enumerate(candidates), 2):
        found = _conflict_between(first, effects[i], second, effects[j])
        if found is None:
            continue
        kind, description = found
        conflicts.append(
            Conflict(
                conflict_id=f"c{len(conflicts) + 1}",
                kind=kind,
                agents=[first.agent, second.agent],
                titles=[first.title, second.title],
                objects=sorted(effects[i].objects & effects[j].objects),
                description=description,
            )
        )
    return conflicts


def _conflict_between(
    first: Proposal, a: ProposalEffect, second: Proposal, b: ProposalEffect
) -> tuple[ConflictKind, str] | None:
    names = f"{first.agent.value}'s {first.title!r} and {second.agent.value}'s {second.title!r}"
    if a.capacity * b.capacity < 0:
        up, down = (first, second) if a.capacity > 0 else (second, first)
        return (
            ConflictKind.OPPOSITE_SCALING,
            f"the {up.agent.value} agent adds capacity ({up.title}) while the {down.agent.value} agent "
            f"removes it ({down.title})",
        )
    if (a.to_spot and b.protects_slo) or (b.to_spot and a.protects_slo):
        spot, guard = (first, second) if a.to_spot else (second, first)
        return (
            ConflictKind.SPOT_VS_RELIABILITY,
            f"the {spot.agent.value} agent moves replicas to interruptible spot capacity ({spot.title}) "
            f"while the {guard.agent.value} agent acts to protect the latency objective ({guard.title})",
        )
    if (a.changes_accelerator and b.sizes_gpu_memory) or (b.changes_accelerator and a.sizes_gpu_memory):
        move, sized = (first, second) if a.changes_accelerator else (second, first)
        return (
            ConflictKind.RESOURCE_CONTENTION,
            f"{sized.title} is sized on the GPU memory of the current accelerators, which "
            f"{move.title} replaces",
        )
    shared = a.objects & b.objects
    if shared:
        return (ConflictKind.SAME_OBJECT, f"{names} both change {', '.join(sorted(shared))}")
    return None


def _capacity_direction(proposal: Proposal) -> int:
    for step in proposal.steps:
        if step.action is StepAction.SCALE_DEPLOYMENT and "previous_replicas" in step.params:
            delta = int(step.params["replicas"]) - int(step.params["previous_replicas"])
            return (delta > 0) - (delta < 0)
    if proposal.type not in CAPACITY_TYPES:
        return 0
    change = proposal.projected_monthly_cost_usd - proposal.current_monthly_cost_usd
    return (change > 0) - (change < 0)
