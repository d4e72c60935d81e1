"""Reading what each proposal does to the workload, and finding the pairs that cannot both run: opposite
scaling, spot against reliability, resource contention and the same object, by the most specific reason
that applies; unrelated proposals do not conflict; conflicts are numbered c1, c2, ... in pair order."""

import pytest

from agents.coordination.conflicts import ProposalEffect, detect_conflicts, effect_of
from optiinfra.domain.coordination import ConflictKind
from optiinfra.domain.enums import AgentKind, RecommendationType, StepAction
from optiinfra.domain.recommendation import ExecutionStep, Proposal
from tests.agents.coordination import (
    DEPLOYMENT,
    INSTANCES,
    OTHER_DEPLOYMENT,
    context_right_sizing,
    kv_tiering,
    right_sizing,
    scale_down,
    scale_up,
    spot_migration,
)

DEPLOYMENTS = frozenset({DEPLOYMENT})


def effect(
    *,
    capacity: int = 0,
    to_spot: bool = False,
    protects_slo: bool = False,
    changes_accelerator: bool = False,
    sizes_gpu_memory: bool = False,
    objects: frozenset[str] = DEPLOYMENTS,
) -> ProposalEffect:
    return ProposalEffect(
        capacity=capacity,
        to_spot=to_spot,
        protects_slo=protects_slo,
        changes_accelerator=changes_accelerator,
        sizes_gpu_memory=sizes_gpu_memory,
        objects=objects,
    )


def launch_right_sizing(to_type: str, lifecycle: str = "on-demand") -> Proposal:
    """Right-sizing by launching replacements, as the Cost agent does across GPU families."""
    base = right_sizing()
    return base.model_copy(
        update={
            "steps": [
                ExecutionStep(
                    step_id="launch-1",
                    action=StepAction.LAUNCH_REPLACEMENT,
                    target=INSTANCES[0],
                    params={"instance_type": to_type, "lifecycle": lifecycle},
                    description=f"Launch a {to_type} to replace {INSTANCES[0]}",
                )
            ],
            "evidence": {"instance_type": "g5.8xlarge"},
        }
    )


@pytest.mark.parametrize(
    ("proposal", "expected"),
    [
        (scale_up(), effect(capacity=1, protects_slo=True)),
        (scale_down(), effect(capacity=-1)),
        (right_sizing(), effect(capacity=-1, changes_accelerator=True, objects=frozenset(INSTANCES))),
        (spot_migration(), effect(to_spot=True, objects=frozenset({INSTANCES[1]}))),
        (kv_tiering(), effect(sizes_gpu_memory=True)),
        (context_right_sizing(), effect(sizes_gpu_memory=True)),
        # A launch to the type the workload already runs on keeps its accelerators; another type does not.
        (launch_right_sizing("g5.8xlarge"), effect(capacity=-1, objects=frozenset({INSTANCES[0]}))),
        (
            launch_right_sizing("g6.4xlarge"),
            effect(capacity=-1, changes_accelerator=True, objects=frozenset({INSTANCES[0]})),
        ),
        (
            launch_right_sizing("g5.8xlarge", lifecycle="spot"),
            effect(capacity=-1, to_spot=True, objects=frozenset({INSTANCES[0]})),
        ),
    ],
    ids=[
        "scale-up",
        "scale-down",
        "right-sizing",
        "spot",
        "kv-tiering",
        "context",
        "launch-same-type",
        "launch-other-type",
        "launch-spot",
    ],
)
def test_effect_of_each_proposal(proposal: Proposal, expected: ProposalEffect) -> None:
    assert effect_of(proposal) == expected


def test_a_scale_step_decides_the_direction_over_the_cost_change() -> None:
    # A scale-up the agent priced as saving money (e.g. fewer timeouts billed) still adds capacity.
    odd = scale_up().model_copy(update={"projected_monthly_cost_usd": 1.0})
    assert effect_of(odd).capacity == 1
    # Without `previous_replicas` the step says nothing about direction: the type and the bill do.
    step = scale_up().steps[0]
    bare = scale_up().model_copy(update={"steps": [step.model_copy(update={"params": {"replicas": "4"}})]})
    assert effect_of(bare).capacity == 1
    serving = bare.model_copy(update={"type": RecommendationType.SERVING_TUNING})
    assert effect_of(serving).capacity == 0


@pytest.mark.parametrize(
    ("first", "second", "kind", "objects", "described"),
    [
        (
            scale_up(),
            right_sizing(),
            ConflictKind.OPPOSITE_SCALING,
            [],
            "the performance agent adds capacity (Scale chat-8b from 3 to 4 replicas ahead of the forecast "
            "peak) while the cost agent removes it (Right-size chat-8b from g5.8xlarge to g6.4xlarge)",
        ),
        (
            spot_migration(),
            scale_up(),
            ConflictKind.SPOT_VS_RELIABILITY,
            [],
            "the cost agent moves replicas to interruptible spot capacity (Move 1 replica(s) of chat-8b to "
            "spot) while the performance agent acts to protect the latency objective",
        ),
        (
            right_sizing(),
            kv_tiering(),
            ConflictKind.RESOURCE_CONTENTION,
            [],
            "is sized on the GPU memory of the current accelerators, which Right-size chat-8b from "
            "g5.8xlarge to g6.4xlarge replaces",
        ),
        (
            kv_tiering(),
            context_right_sizing(),
            ConflictKind.SAME_OBJECT,
            [DEPLOYMENT],
            f"both change {DEPLOYMENT}",
        ),
    ],
    ids=["opposite-scaling", "spot-vs-reliability", "resource-contention", "same-object"],
)
def test_each_kind_of_conflict_is_found_for_its_pair(
    first: Proposal, second: Proposal, kind: ConflictKind, objects: list[str], described: str
) -> None:
    [conflict] = detect_conflicts([first, second])
    assert conflict.conflict_id == "c1"
    assert conflict.kind is kind
    assert conflict.agents == [first.agent, second.agent]
    assert conflict.titles == [first.title, second.title]
    assert conflict.objects == objects
    assert described in conflict.description

    # The pair conflicts for the same reason whichever comes first; sides follow the candidates' order.
    [reversed_] = detect_conflicts([second, first])
    assert reversed_.kind is kind
    assert reversed_.agents == [second.agent, first.agent]
    assert described in reversed_.description


def test_opposite_scaling_wins_over_spot_and_same_object_reasons() -> None:
    # Right-sizing onto spot instances both removes capacity and moves to spot: the capacity is named.
    to_spot = launch_right_sizing("g5.8xlarge", lifecycle="spot")
    [conflict] = detect_conflicts([scale_up(), to_spot])
    assert conflict.kind is ConflictKind.OPPOSITE_SCALING

    # Scaling down a Deployment while another agent rolls its arguments: nothing about capacity or GPUs
    # is at stake for the other, so it is the shared Deployment.
    [shared] = detect_conflicts([scale_down(), kv_tiering()])
    assert (shared.kind, shared.objects) == (ConflictKind.SAME_OBJECT, [DEPLOYMENT])


@pytest.mark.parametrize(
    "pair",
    [
        # Spot capacity with a context change of the Deployment: no SLO guard, no new GPUs, other objects.
        [spot_migration(), context_right_sizing()],
        # Both remove capacity: they agree in direction and touch different objects.
        [scale_down(), right_sizing()],
        # A scale-up of one Deployment and a KV tier on another workload's Deployment.
        [scale_up(), kv_tiering(OTHER_DEPLOYMENT)],
        # Spot moves replicas on the current accelerators: the KV sizing still holds.
        [spot_migration(), kv_tiering()],
    ],
    ids=["spot-and-context", "both-scale-down", "different-deployments", "spot-and-kv"],
)
def test_unrelated_proposals_do_not_conflict(pair: list[Proposal]) -> None:
    assert detect_conflicts(pair) == []


def test_conflicts_are_numbered_in_pair_order() -> None:
    candidates = [scale_up(), right_sizing(), kv_tiering(), context_right_sizing()]
    conflicts = detect_conflicts(candidates)

    perf, cost, resource, app = (
        AgentKind.PERFORMANCE,
        AgentKind.COST,
        AgentKind.RESOURCE,
        AgentKind.APPLICATION,
    )
    assert [(c.conflict_id, c.kind, c.agents) for c in conflicts] == [
        ("c1", ConflictKind.OPPOSITE_SCALING, [perf, cost]),
        ("c2", ConflictKind.SAME_OBJECT, [perf, resource]),
        ("c3", ConflictKind.SAME_OBJECT, [perf, app]),
        ("c4", ConflictKind.RESOURCE_CONTENTION, [cost, resource]),
        ("c5", ConflictKind.RESOURCE_CONTENTION, [cost, app]),
        ("c6", ConflictKind.SAME_OBJECT, [resource, app]),
    ]
    # Numbering counts conflicts, not pairs: a pair without one leaves no gap.
    spaced = detect_conflicts([spot_migration(), context_right_sizing(), scale_up()])
    assert [(c.conflict_id, c.kind, c.agents) for c in spaced] == [
        ("c1", ConflictKind.SPOT_VS_RELIABILITY, [cost, perf]),
        ("c2", ConflictKind.SAME_OBJECT, [app, perf]),
    ]


def test_no_candidates_or_one_candidate_means_no_conflicts() -> None:
    assert detect_conflicts([]) == []
    assert detect_conflicts([scale_up()]) == []
