"""Resolving conflicts by rules: the customer's constraints first, then the agents' priority (performance >
resource > cost > application), pairwise and across several conflicts; and checking a set of resolutions
(e.g. a model's) for the plan it implies."""

import pytest

from agents.coordination.conflicts import detect_conflicts
from agents.coordination.resolution import (
    PRIORITY,
    JointPlan,
    constraint_violation,
    plan_from_resolutions,
    resolve_by_rules,
)
from optiinfra.domain.coordination import (
    Conflict,
    ConflictKind,
    CustomerConstraints,
    Resolution,
    ResolutionMethod,
)
from optiinfra.domain.enums import AgentKind
from optiinfra.domain.recommendation import Proposal
from tests.agents.coordination import (
    OTHER_DEPLOYMENT,
    context_right_sizing,
    kv_tiering,
    right_sizing,
    scale_down,
    scale_up,
    spot_migration,
)

PERF, RESOURCE, COST, APP = AgentKind.PERFORMANCE, AgentKind.RESOURCE, AgentKind.COST, AgentKind.APPLICATION
NO_CONSTRAINTS = CustomerConstraints()
COST_CAP = CustomerConstraints(max_monthly_cost_increase_usd=1000.0)
SLO_FLOOR = CustomerConstraints(min_slo_compliance=0.95)


def resolve(
    candidates: list[Proposal],
    constraints: CustomerConstraints = NO_CONSTRAINTS,
    slo_compliance: float | None = None,
) -> tuple[list[Conflict], JointPlan]:
    conflicts = detect_conflicts(candidates)
    return conflicts, resolve_by_rules(candidates, conflicts, constraints, slo_compliance)


def agents_of(proposals: list[Proposal]) -> list[AgentKind]:
    return [p.agent for p in proposals]


def assert_conflict_free(plan: JointPlan, conflicts: list[Conflict]) -> None:
    accepted = set(agents_of(plan.accepted))
    for conflict in conflicts:
        assert not set(conflict.agents) <= accepted, f"{conflict.conflict_id}: both sides accepted"


def decision(conflict_id: str, winner: AgentKind | None, sides: list[AgentKind]) -> Resolution:
    return Resolution(
        conflict_id=conflict_id,
        method=ResolutionMethod.JOINT_REASONING,
        winner=winner,
        set_aside=[a for a in sides if a != winner],
        reason="the model's reason",
        written_by="frontier:frontier-model",
    )


def test_priority_is_performance_then_resource_then_cost_then_application() -> None:
    assert PRIORITY == (PERF, RESOURCE, COST, APP)


@pytest.mark.parametrize(
    ("pair", "winner", "loser"),
    [
        ([scale_up(), right_sizing()], PERF, COST),
        ([spot_migration(), scale_up()], PERF, COST),
        ([scale_down(), kv_tiering()], PERF, RESOURCE),
        ([right_sizing(), kv_tiering()], RESOURCE, COST),
        ([kv_tiering(), context_right_sizing()], RESOURCE, APP),
        ([right_sizing(), context_right_sizing()], COST, APP),
    ],
    ids=["perf-cost", "perf-spot", "perf-resource", "resource-cost", "resource-app", "cost-app"],
)
def test_the_higher_priority_side_of_a_pair_wins(
    pair: list[Proposal], winner: AgentKind, loser: AgentKind
) -> None:
    for candidates in (pair, pair[::-1]):
        conflicts, plan = resolve(candidates)
        [resolution] = plan.resolutions
        assert resolution.conflict_id == conflicts[0].conflict_id == "c1"
        assert (resolution.method, resolution.winner, resolution.set_aside) == (
            ResolutionMethod.PRIORITY,
            winner,
            [loser],
        )
        assert resolution.written_by == "rules"
        assert resolution.reason.startswith(f"{winner.value} outranks {loser.value} (performance > resource")
        assert agents_of(plan.accepted) == [winner]
        assert plan.notes == []


def test_confidence_does_not_beat_priority() -> None:
    # A hesitant performance proposal still goes ahead of a confident cost proposal.
    _, plan = resolve([right_sizing(confidence=0.99), scale_up(confidence=0.3)])
    assert [r.winner for r in plan.resolutions] == [PERF]
    assert agents_of(plan.accepted) == [PERF]


def test_accepted_proposals_are_ordered_by_priority_not_by_candidate_order() -> None:
    candidates = [context_right_sizing(OTHER_DEPLOYMENT), spot_migration(), kv_tiering()]
    conflicts, plan = resolve(candidates)
    assert conflicts == []
    assert (plan.resolutions, plan.notes) == ([], [])
    assert agents_of(plan.accepted) == [RESOURCE, COST, APP]


def test_a_side_that_lost_elsewhere_lets_the_lower_priority_side_go_ahead() -> None:
    """Cost loses to Performance (c1); its contention with Application (c2) then goes Application's way,
    and the reason says why without claiming that application outranks cost."""
    conflicts, plan = resolve([scale_up(), right_sizing(), context_right_sizing(OTHER_DEPLOYMENT)])
    assert [(c.conflict_id, c.kind, c.agents) for c in conflicts] == [
        ("c1", ConflictKind.OPPOSITE_SCALING, [PERF, COST]),
        ("c2", ConflictKind.RESOURCE_CONTENTION, [COST, APP]),
    ]
    first, second = plan.resolutions
    assert (first.winner, first.set_aside, first.method) == (PERF, [COST], ResolutionMethod.PRIORITY)
    assert (second.winner, second.set_aside, second.method) == (APP, [COST], ResolutionMethod.PRIORITY)
    assert "outranks" not in second.reason
    assert second.reason == (
        "Right-size chat-8b from g5.8xlarge to g6.4xlarge conflicts with a change of higher priority that "
        "went ahead; so Right-size the context window of summarize-70b: 32,768 -> 8,192 tokens goes ahead"
    )
    assert agents_of(plan.accepted) == [PERF, APP]
    assert_conflict_free(plan, conflicts)


def test_conflicts_between_two_losers_have_no_winner() -> None:
    candidates = [scale_up(), right_sizing(), kv_tiering(), context_right_sizing()]
    conflicts, plan = resolve(candidates)

    assert [(r.conflict_id, r.winner, r.set_aside) for r in plan.resolutions] == [
        ("c1", PERF, [COST]),
        ("c2", PERF, [RESOURCE]),
        ("c3", PERF, [APP]),
        ("c4", None, [COST, RESOURCE]),
        ("c5", None, [COST, APP]),
        ("c6", None, [RESOURCE, APP]),
    ]
    assert {r.method for r in plan.resolutions} == {ResolutionMethod.PRIORITY}
    c6 = plan.resolutions[5]
    assert c6.reason == (
        "Offload chat-8b's KV cache to 48 GiB of host memory per replica: prefix hits 41% -> 63% conflicts "
        "with a change of higher priority that went ahead; Right-size the context window of chat-8b: "
        "32,768 -> 8,192 tokens conflicts with a change of higher priority that went ahead"
    )
    assert agents_of(plan.accepted) == [PERF]
    assert_conflict_free(plan, conflicts)


def test_without_performance_resource_wins_its_conflicts_and_the_rest_follow() -> None:
    conflicts, plan = resolve([context_right_sizing(), right_sizing(), kv_tiering()])
    assert [(c.conflict_id, c.agents) for c in conflicts] == [
        ("c1", [APP, COST]),
        ("c2", [APP, RESOURCE]),
        ("c3", [COST, RESOURCE]),
    ]
    assert [(r.winner, r.set_aside) for r in plan.resolutions] == [
        (None, [APP, COST]),
        (RESOURCE, [APP]),
        (RESOURCE, [COST]),
    ]
    assert agents_of(plan.accepted) == [RESOURCE]
    assert_conflict_free(plan, conflicts)


# --- constraints -------------------------------------------------------------------------------------------


def test_a_cost_cap_refuses_a_costly_scale_up_so_the_cost_side_wins() -> None:
    _, plan = resolve([scale_up(), right_sizing()], COST_CAP)
    [resolution] = plan.resolutions
    assert (resolution.method, resolution.winner, resolution.set_aside) == (
        ResolutionMethod.CONSTRAINT,
        COST,
        [PERF],
    )
    refusal = (
        "Scale chat-8b from 3 to 4 replicas ahead of the forecast peak adds $1,787/month, over the "
        "customer's limit of $1,000/month"
    )
    assert resolution.reason == f"{refusal}; so Right-size chat-8b from g5.8xlarge to g6.4xlarge goes ahead"
    assert agents_of(plan.accepted) == [COST]
    assert plan.notes == [f"set aside by the customer's constraints: {refusal}"]


def test_a_scale_up_within_the_cost_cap_wins_by_priority() -> None:
    exact = CustomerConstraints(max_monthly_cost_increase_usd=1787.04)
    _, plan = resolve([scale_up(), right_sizing()], exact)
    assert [(r.method, r.winner) for r in plan.resolutions] == [(ResolutionMethod.PRIORITY, PERF)]
    assert plan.notes == []


def test_an_slo_floor_refuses_a_scale_down_while_compliance_is_low() -> None:
    conflicts, plan = resolve([scale_down(), kv_tiering()], SLO_FLOOR, slo_compliance=0.9)
    assert conflicts[0].kind is ConflictKind.SAME_OBJECT
    [resolution] = plan.resolutions
    assert (resolution.method, resolution.winner, resolution.set_aside) == (
        ResolutionMethod.CONSTRAINT,
        RESOURCE,
        [PERF],
    )
    assert resolution.reason.startswith(
        "Scale chat-8b from 3 to 2 replicas, draining first puts the latency objective at risk while only "
        "90.0% of windows meet it (the customer requires 95.0%); so Offload chat-8b's KV cache"
    )
    assert agents_of(plan.accepted) == [RESOURCE]


@pytest.mark.parametrize(
    ("proposal", "compliance", "refused"),
    [
        (spot_migration(), 0.90, True),
        (scale_down(), 0.90, True),
        (right_sizing(), 0.90, True),  # smaller GPUs remove serving capacity
        (scale_up(), 0.90, False),
        (kv_tiering(), 0.90, False),
        (spot_migration(), 0.95, False),  # at the floor is enough
        (spot_migration(), None, False),  # compliance unknown: nothing to hold against
    ],
)
def test_an_slo_floor_refuses_only_changes_that_risk_the_slo(
    proposal: Proposal, compliance: float | None, refused: bool
) -> None:
    reason = constraint_violation(proposal, SLO_FLOOR, compliance)
    assert (reason is not None) is refused
    if refused:
        assert reason is not None
        assert reason.startswith(f"{proposal.title} puts the latency objective at risk")


def test_no_constraints_refuse_nothing() -> None:
    for proposal in (scale_up(), scale_down(), spot_migration(), right_sizing()):
        assert constraint_violation(proposal, NO_CONSTRAINTS, 0.1) is None
    # A zero cap still lets every change that does not raise the bill through.
    zero = CustomerConstraints(max_monthly_cost_increase_usd=0.0)
    assert constraint_violation(kv_tiering(), zero, None) is None
    assert constraint_violation(scale_up(), zero, None) is not None


def test_a_refused_proposal_outside_any_conflict_is_noted() -> None:
    conflicts, plan = resolve([spot_migration(), context_right_sizing()], SLO_FLOOR, slo_compliance=0.8)
    assert conflicts == [] and plan.resolutions == []
    assert agents_of(plan.accepted) == [APP]
    assert plan.notes == [
        "set aside by the customer's constraints: Move 1 replica(s) of chat-8b to spot puts the latency "
        "objective at risk while only 80.0% of windows meet it (the customer requires 95.0%)"
    ]


def test_a_refused_side_that_would_have_lost_anyway_is_a_priority_resolution() -> None:
    _, plan = resolve([spot_migration(), scale_up()], SLO_FLOOR, slo_compliance=0.8)
    [resolution] = plan.resolutions
    assert (resolution.method, resolution.winner) == (ResolutionMethod.PRIORITY, PERF)
    assert len(plan.notes) == 1  # the refusal is still on record


def test_a_refusal_in_another_conflict_does_not_make_this_one_a_constraint_resolution() -> None:
    """Performance is refused (cost cap) and so is Cost (SLO floor): their conflict has no winner, by
    constraint. Cost's contention with Resource is Resource's by priority alone, whatever Performance's
    refusal elsewhere."""
    both = CustomerConstraints(max_monthly_cost_increase_usd=1000.0, min_slo_compliance=0.95)
    candidates = [scale_up(), right_sizing(), kv_tiering(OTHER_DEPLOYMENT)]
    conflicts, plan = resolve(candidates, both, slo_compliance=0.9)
    assert [(c.conflict_id, c.agents) for c in conflicts] == [("c1", [PERF, COST]), ("c2", [COST, RESOURCE])]
    c1, c2 = plan.resolutions
    assert (c1.method, c1.winner, c1.set_aside) == (ResolutionMethod.CONSTRAINT, None, [PERF, COST])
    assert "over the customer's limit" in c1.reason and "puts the latency objective at risk" in c1.reason
    assert (c2.method, c2.winner, c2.set_aside) == (ResolutionMethod.PRIORITY, RESOURCE, [COST])
    assert c2.reason.startswith("resource outranks cost")
    assert agents_of(plan.accepted) == [RESOURCE]
    assert len(plan.notes) == 2


def test_both_sides_refused_leaves_the_conflict_without_a_winner() -> None:
    both = CustomerConstraints(max_monthly_cost_increase_usd=1000.0, min_slo_compliance=0.95)
    _, plan = resolve([scale_up(), spot_migration()], both, slo_compliance=0.9)
    [resolution] = plan.resolutions
    assert (resolution.method, resolution.winner, resolution.set_aside) == (
        ResolutionMethod.CONSTRAINT,
        None,
        [PERF, COST],
    )
    assert plan.accepted == []


# --- plans from given resolutions --------------------------------------------------------------------------


@pytest.fixture
def perf_vs_cost() -> tuple[list[Proposal], list[Conflict]]:
    candidates = [scale_up(), right_sizing()]
    return candidates, detect_conflicts(candidates)


def test_a_consistent_plan_is_accepted(perf_vs_cost: tuple[list[Proposal], list[Conflict]]) -> None:
    candidates, conflicts = perf_vs_cost
    given = [decision("c1", COST, [PERF, COST])]
    plan = plan_from_resolutions(candidates, conflicts, given, NO_CONSTRAINTS)
    assert isinstance(plan, JointPlan)
    assert agents_of(plan.accepted) == [COST]
    assert plan.resolutions == given

    # Setting both sides aside is consistent too.
    nobody_wins = [decision("c1", None, [PERF, COST])]
    nobody = plan_from_resolutions(candidates, conflicts, nobody_wins, NO_CONSTRAINTS)
    assert isinstance(nobody, JointPlan) and nobody.accepted == []


def test_the_rules_own_resolutions_form_a_consistent_plan() -> None:
    candidates = [scale_up(), right_sizing(), kv_tiering(), context_right_sizing(OTHER_DEPLOYMENT)]
    conflicts, rules = resolve(candidates)
    plan = plan_from_resolutions(candidates, conflicts, rules.resolutions, NO_CONSTRAINTS)
    assert isinstance(plan, JointPlan)
    assert agents_of(plan.accepted) == agents_of(rules.accepted)


@pytest.mark.parametrize(
    ("given", "constraints", "rejection"),
    [
        ([], NO_CONSTRAINTS, "conflicts left unresolved: c1"),
        (
            [decision("c1", PERF, [PERF, COST]), decision("c9", COST, [COST, APP])],
            NO_CONSTRAINTS,
            "resolutions of unknown conflicts: c9",
        ),
        (
            [decision("c1", RESOURCE, [PERF, COST])],
            NO_CONSTRAINTS,
            "c1: resource is not a side of this conflict",
        ),
        (
            [decision("c1", PERF, [PERF, COST]), decision("c1", COST, [PERF, COST])],
            NO_CONSTRAINTS,
            "conflicts resolved more than once: c1",
        ),
        (
            [decision("c1", PERF, [PERF, COST])],
            COST_CAP,
            "accepts a change the constraints refuse: Scale chat-8b from 3 to 4 replicas ahead of the "
            "forecast peak adds $1,787/month, over the customer's limit of $1,000/month",
        ),
    ],
    ids=["missing", "unknown", "winner-not-a-side", "both-sides", "constraint"],
)
def test_inconsistent_resolutions_are_refused_with_the_reason(
    perf_vs_cost: tuple[list[Proposal], list[Conflict]],
    given: list[Resolution],
    constraints: CustomerConstraints,
    rejection: str,
) -> None:
    candidates, conflicts = perf_vs_cost
    assert plan_from_resolutions(candidates, conflicts, given, constraints) == rejection


def test_a_winner_set_aside_by_another_resolution_is_refused() -> None:
    """Cost beats Performance in c1 but loses to Application in c2: c1's winner never runs, so setting
    Performance aside for it is for nothing."""
    candidates = [scale_up(), right_sizing(), context_right_sizing(OTHER_DEPLOYMENT)]
    conflicts = detect_conflicts(candidates)
    given = [decision("c1", COST, [PERF, COST]), decision("c2", APP, [COST, APP])]
    rejection = plan_from_resolutions(candidates, conflicts, given, NO_CONSTRAINTS)
    assert rejection == (
        "c1: cost wins here but another resolution sets it aside, so this conflict's other side is set "
        "aside for nothing"
    )


def test_both_sides_of_a_conflict_accepted_is_refused() -> None:
    """Reachable when one agent has two candidates in conflict (a same-object pair of Cost proposals): the
    winner of their conflict is both sides."""
    candidates = [right_sizing(), spot_migration()]
    [conflict] = detect_conflicts(candidates)
    assert (conflict.kind, conflict.agents) == (ConflictKind.SAME_OBJECT, [COST, COST])
    rejection = plan_from_resolutions(candidates, [conflict], [decision("c1", COST, [COST])], NO_CONSTRAINTS)
    assert rejection == "c1: both sides accepted"
