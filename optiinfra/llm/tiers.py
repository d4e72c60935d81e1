"""Who answers a reasoning task: the free rule tier, or one of three model tiers."""

from enum import StrEnum


class InferenceTier(StrEnum):
    RULES = "rules"
    SMALL = "small"
    MEDIUM = "medium"
    FRONTIER = "frontier"


# Cheapest first: routing walks this order upwards from the tier a task needs.
MODEL_TIERS: tuple[InferenceTier, ...] = (InferenceTier.SMALL, InferenceTier.MEDIUM, InferenceTier.FRONTIER)
