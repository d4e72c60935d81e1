"""The per-tenant daily budget: which tier a task may use given what the tenant has spent today, and
whether one more call fits. A call's cost is estimated before it is made from the prompt's length and the
completion-token cap sent with it, so the estimate bounds what the call can be billed."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.config import BudgetPolicy, TierModel, TokenPrice
from optiinfra.llm.tiers import MODEL_TIERS, InferenceTier

# A common rule of thumb for English and JSON with BPE tokenizers; a few tokens per message for roles.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def estimated_prompt_tokens(messages: Sequence[ChatMessage]) -> int:
    return sum(math.ceil(len(message.content) / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE for message in messages)


def estimated_cost_usd(
    price: TokenPrice, messages: Sequence[ChatMessage], max_completion_tokens: int
) -> float:
    return price.cost_usd(
        prompt_tokens=estimated_prompt_tokens(messages), completion_tokens=max_completion_tokens
    )


@dataclass(frozen=True)
class TierChoice:
    """`tier` None: the rules answer, and `reason` says why. Otherwise `reason` is empty unless the
    task was downgraded from the tier it was routed to."""

    tier: InferenceTier | None
    reason: str = ""


def choose_tier(
    routed: InferenceTier,
    tiers: Mapping[InferenceTier, TierModel],
    messages: Sequence[ChatMessage],
    *,
    spent_usd: float,
    policy: BudgetPolicy,
) -> TierChoice:
    budget = policy.daily_budget_usd
    if spent_usd >= budget:
        return TierChoice(None, f"daily budget spent (${spent_usd:.2f} of ${budget:.2f})")
    left = budget - spent_usd

    def fits(tier: InferenceTier) -> bool:
        return estimated_cost_usd(tiers[tier].price, messages, policy.max_completion_tokens) <= left

    if spent_usd < policy.downgrade_fraction * budget and fits(routed):
        return TierChoice(routed)
    cheaper = [tier for tier in reversed(MODEL_TIERS[: MODEL_TIERS.index(routed)]) if tier in tiers]
    for tier in cheaper:
        if fits(tier):
            return TierChoice(
                tier, f"downgraded from {routed} to {tier}: ${spent_usd:.2f} of ${budget:.2f} spent today"
            )
    return TierChoice(
        None,
        f"daily budget nearly spent (${spent_usd:.2f} of ${budget:.2f} today) and no configured tier "
        f"below {routed} fits the ${left:.2f} left",
    )


@dataclass(frozen=True)
class CallAllowance:
    """What one answer may still spend: the tenant's spend before it, plus what its own calls have been
    billed so far, must leave room for the next call's estimate."""

    spent_usd: float
    budget_usd: float
    price: TokenPrice
    max_completion_tokens: int

    def refusal(self, messages: Sequence[ChatMessage], *, billed_usd: float) -> str | None:
        """Why the next call may not go out; None when it fits."""
        spent = self.spent_usd + billed_usd
        estimate = estimated_cost_usd(self.price, messages, self.max_completion_tokens)
        if spent + estimate > self.budget_usd:
            return (
                f"daily budget has no room for another call (${spent:.2f} of ${self.budget_usd:.2f} "
                f"spent today, the call could cost ${estimate:.2f})"
            )
        return None
