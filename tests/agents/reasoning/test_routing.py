"""Tier routing: the cheapest configured tier at least as capable as the task needs."""

import pytest

from agents.reasoning.routing import tier_for
from agents.reasoning.tasks import TaskKind
from optiinfra.llm.tiers import InferenceTier

SMALL, MEDIUM, FRONTIER = InferenceTier.SMALL, InferenceTier.MEDIUM, InferenceTier.FRONTIER
ALL = {SMALL, MEDIUM, FRONTIER}


@pytest.mark.parametrize(
    ("kind", "configured", "expected"),
    [
        (TaskKind.CLASSIFICATION, ALL, SMALL),
        (TaskKind.PARSING, ALL, SMALL),
        (TaskKind.SUMMARY, ALL, MEDIUM),
        (TaskKind.EXPLANATION, ALL, MEDIUM),
        (TaskKind.ROOT_CAUSE, ALL, FRONTIER),
        (TaskKind.JOINT_RESOLUTION, ALL, FRONTIER),
        (TaskKind.CLASSIFICATION, {MEDIUM, FRONTIER}, MEDIUM),
        (TaskKind.CLASSIFICATION, {FRONTIER}, FRONTIER),
        (TaskKind.EXPLANATION, {SMALL, FRONTIER}, FRONTIER),
        (TaskKind.EXPLANATION, {SMALL}, None),
        (TaskKind.ROOT_CAUSE, {SMALL, MEDIUM}, None),
        (TaskKind.CLASSIFICATION, set(), None),
    ],
)
def test_tier_for(kind: TaskKind, configured: set[InferenceTier], expected: InferenceTier | None) -> None:
    assert tier_for(kind, configured) is expected
