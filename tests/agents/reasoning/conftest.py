"""Inference layers whose configured tiers all point at the live OpenAI stub."""

from collections.abc import AsyncIterator, Callable, Mapping

import pytest

from agents.reasoning.layering import InferenceLayer
from agents.reasoning.semantic_cache import SemanticCache
from optiinfra.llm.config import BreakerPolicy, BudgetPolicy, InferenceConfig, TierModel, TokenPrice
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from tests.agents.reasoning.layers import (
    MAX_COMPLETION_TOKENS,
    MEDIUM_PRICE,
    TIMEOUT_SECONDS,
    LayerFactory,
    ManualClock,
)
from tests.support.openai_stub import OpenAIStub


@pytest.fixture
async def make_layer(openai_stub: OpenAIStub) -> AsyncIterator[LayerFactory]:
    """Each tier gets its own model name (the stub's request log shows which tier was asked) and, unless
    `prices` says otherwise, the same price."""
    made: list[InferenceLayer] = []

    def make(
        tiers: Mapping[InferenceTier, str] | None = None,
        *,
        budget: float = 100.0,
        downgrade_fraction: float = 0.8,
        max_completion_tokens: int = MAX_COMPLETION_TOKENS,
        prices: Mapping[InferenceTier, TokenPrice] | None = None,
        threshold: int = 3,
        cooldown: float = 30.0,
        clock: Callable[[], float] | None = None,
        timeout: float = TIMEOUT_SECONDS,
        semantic_cache: SemanticCache | None = None,
    ) -> InferenceLayer:
        models = {InferenceTier.MEDIUM: "medium-model"} if tiers is None else tiers
        config = InferenceConfig(
            tiers={
                tier: TierModel(
                    client=OpenAIChatClient(
                        base_url=openai_stub.base_url,
                        model=model,
                        api_key="test-key",
                        timeout_seconds=timeout,
                    ),
                    price=(prices or {}).get(tier, MEDIUM_PRICE),
                )
                for tier, model in models.items()
            },
            budget=BudgetPolicy(
                daily_budget_usd=budget,
                downgrade_fraction=downgrade_fraction,
                max_completion_tokens=max_completion_tokens,
            ),
            breaker=BreakerPolicy(failure_threshold=threshold, cooldown_seconds=cooldown),
        )
        layer = InferenceLayer(config, clock=clock or ManualClock(), semantic_cache=semantic_cache)
        made.append(layer)
        return layer

    yield make
    for layer in made:
        await layer.aclose()
