"""Resolving conflicts between the agents' proposals by rules: the customer's constraints first, then the
priority of the agents (performance > resource > cost > application), then confidence.

Candidates are taken best first; each is accepted unless a constraint refuses it or it conflicts with a
candidate already accepted. Every conflict then gets a resolution that says which side won and why."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from agents.coordination.conflicts import effect_of
from optiinfra.domain.coordination import Conflict, CustomerConstraints, Resolution, ResolutionMethod
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.recommendation import Proposal

PRIORITY: tuple[AgentKind, ...] = (
    AgentKind.PERFORMANCE,
    AgentKind.RESOURCE,
    AgentKind.COST,
    AgentKind.APPLICATION,
)
"""Whose proposal wins a conflict when the constraints allow either: the SLO first, then the memory that
keeps replicas alive, then the bill, then the application's own efficiency."""


@dataclass
class JointPlan:
    accepted: list[Proposal]
    resolutions: list[Resolution]
    notes: list[str] = field(default_factory=list)


def priority_rank(agent: AgentKind) -> int:
    return PRIORITY.index(agent)


def constraint_violation(
    proposal: Proposal, constraints: CustomerConstraints, slo_compliance: float | None
) -> str | None:
    """Why the customer's constraints refuse the proposal, or None."""
    limit = constraints.max_monthly_cost_increase_usd
    if limit is not None and proposal.monthly_cost_increase_usd > limit:
        return (
            f"{proposal.title} adds ${proposal.monthly_cost_increase_usd:,.0f}/month, over the customer's "
            f"limit of ${limit:,.0f}/month"
        )
    floor = constraints.min_slo_compliance
    if floor is not None and slo_compliance is not None and slo_compliance < floor:
        effect = effect_of(proposal)
        if effect.capacity < 0 or effect.to_spot:
            return (
                f"{proposal.title} puts the latency objective at risk while only {slo_compliance:.1%} of "
                f"windows meet it (the customer requires {floor:.1%})"
            )
    return None


def resolve_by_rules(
    candidates: list[Proposal],
    conflicts: list[Conflict],
    constraints: CustomerConstraints,
    slo_compliance: float | None = None,
) -> JointPlan:
    by_agent = {p.agent: p for p in candidates}
    refused = {
        p.agent: reason
        for p in candidates
        if (reason := constraint_violation(p, constraints, slo_compliance)) is not None
    }
    accepted: list[Proposal] = []
    for proposal in sorted(candidates, key=lambda p: (priority_rank(p.agent), -p.confidence)):
        if proposal.agent in refused:
            continue
        if any(_in_conflict(proposal.agent, other.agent, conflicts) for other in accepted):
            continue
        accepted.append(proposal)
    winners = {p.agent for p in accepted}
    resolutions = [_explain(c, winners, refused, by_agent) for c in conflicts]
    notes = [f"set aside by the customer's constraints: {reason}" for reason in refused.values()]
    return JointPlan(accepted=accepted, resolutions=resolutions, notes=notes)


def plan_from_resolutions(
    candidates: list[Proposal],
    conflicts: list[Conflict],
    resolutions: Iterable[Resolution],
    constraints: CustomerConstraints,
    slo_compliance: float | None = None,
) -> JointPlan | str:
    """The plan a set of resolutions (e.g. a model's) implies, or why it cannot stand: every conflict must
    be resolved once, by one of its own sides, and the accepted changes must neither conflict nor break a
    constraint."""
    given: dict[str, Resolution] = {}
    repeated: set[str] = set()
    for resolution in resolutions:
        if resolution.conflict_id in given:
            repeated.add(resolution.conflict_id)
        given[resolution.conflict_id] = resolution
    if repeated:
        return f"conflicts resolved more than once: {', '.join(sorted(repeated))}"
    missing = [c.conflict_id for c in conflicts if c.conflict_id not in given]
    if missing:
        return f"conflicts left unresolved: {', '.join(missing)}"
    unknown = sorted(set(given) - {c.conflict_id for c in conflicts})
    if unknown:
        return f"resolutions of unknown conflicts: {', '.join(unknown)}"
    losers: set[AgentKind] = set()
    for conflict in conflicts:
        resolution = given[conflict.conflict_id]
        if resolution.winner is not None and resolution.winner not in conflict.agents:
            return f"{conflict.conflict_id}: {resolution.winner.value} is not a side of this conflict"
        losers |= {a for a in conflict.agents if a != resolution.winner}
    for conflict in conflicts:
        winner = given[conflict.conflict_id].winner
        if winner is not None and winner in losers:
            return (
                f"{conflict.conflict_id}: {winner.value} wins here but another resolution sets it aside, "
                f"so this conflict's other side is set aside for nothing"
            )
    accepted = [p for p in candidates if p.agent not in losers]
    for proposal in accepted:
        reason = constraint_violation(proposal, constraints, slo_compliance)
        if reason is not None:
            return f"accepts a change the constraints refuse: {reason}"
    agents = [p.agent for p in accepted]
    for conflict in conflicts:
        if all(agent in agents for agent in conflict.agents):
            return f"{conflict.conflict_id}: both sides accepted"
    ordered = sorted(accepted, key=lambda p: (priority_rank(p.agent), -p.confidence))
    return JointPlan(accepted=ordered, resolutions=[given[c.conflict_id] for c in conflicts])


def _in_conflict(first: AgentKind, second: AgentKind, conflicts: list[Conflict]) -> bool:
    return any(first in c.agents and second in c.agents for c in conflicts)


def _explain(
    conflict: Conflict,
    winners: set[AgentKind],
    refused: dict[AgentKind, str],
    by_agent: dict[AgentKind, Proposal],
) -> Resolution:
    winner = next((a for a in conflict.agents if a in winners), None)
    set_aside = [a for a in conflict.agents if a != winner]
    refused_here = [a for a in set_aside if a in refused]
    # Sides the constraints allowed that still lost although they outrank the winner (or nobody won): each
    # conflicts with a change of higher priority that went ahead in another conflict.
    beaten = [
        a
        for a in set_aside
        if a not in refused and (winner is None or priority_rank(a) < priority_rank(winner))
    ]
    goes_ahead = f"; so {by_agent[winner].title} goes ahead" if winner is not None else ""
    outranked_by_refusal = winner is None or any(
        priority_rank(a) < priority_rank(winner) for a in refused_here
    )
    if refused_here and outranked_by_refusal:
        reasons = [refused[a] for a in refused_here] + [_beaten_elsewhere(by_agent[a]) for a in beaten]
        reason = "; ".join(reasons)
        return Resolution(
            conflict_id=conflict.conflict_id,
            method=ResolutionMethod.CONSTRAINT,
            winner=winner,
            set_aside=set_aside,
            reason=reason + goes_ahead,
        )
    if winner is None or beaten:
        return Resolution(
            conflict_id=conflict.conflict_id,
            method=ResolutionMethod.PRIORITY,
            winner=winner,
            set_aside=set_aside,
            reason="; ".join(_beaten_elsewhere(by_agent[a]) for a in beaten) + goes_ahead,
        )
    losers = ", ".join(a.value for a in set_aside)
    return Resolution(
        conflict_id=conflict.conflict_id,
        method=ResolutionMethod.PRIORITY,
        winner=winner,
        set_aside=set_aside,
        reason=(
            f"{winner.value} outranks {losers} (performance > resource > cost > application): "
            f"{by_agent[winner].title} goes ahead"
        ),
    )


def _beaten_elsewhere(proposal: Proposal) -> str:
    return f"{proposal.title} conflicts with a change of higher priority that went ahead"
