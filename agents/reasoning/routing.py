"""Which configured model tier answers a task of a given kind."""

from collections.abc import Collection

from agents.reasoning.tasks import TaskKind
from optiinfra.llm.tiers import MODEL_TIERS, InferenceTier


def tier_for(kind: TaskKind, configured: Collection[InferenceTier]) -> InferenceTier | None:
    """The cheapest configured tier at least as capable as the kind needs: a bigger tier can do a
    smaller tier's work (at a higher price), a smaller one cannot do a bigger one's. None: rules only."""
    fitting = MODEL_TIERS[MODEL_TIERS.index(kind.smallest_fitting_tier) :]
    return next((tier for tier in fitting if tier in configured), None)
