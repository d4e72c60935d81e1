"""Builds the inference configuration from settings: one OpenAI-compatible client per configured tier,
the daily budget, the breaker's policy and the semantic cache (its Qdrant opened on first use)."""

from dataclasses import dataclass
from functools import partial

from pydantic import SecretStr

from optiinfra.llm.config import (
    BreakerPolicy,
    BudgetPolicy,
    InferenceConfig,
    SemanticCacheConfig,
    TierModel,
    TokenPrice,
)
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.settings import Settings
from optiinfra.vectors.from_settings import embedder_from_settings
from optiinfra.vectors.qdrant import open_qdrant_at, qdrant_location


@dataclass(frozen=True)
class TierEndpoint:
    url: str
    model: str
    api_key: SecretStr | None
    price: TokenPrice

    @property
    def configured(self) -> bool:
        return bool(self.url and self.model)


def inference_config(settings: Settings) -> InferenceConfig:
    """Tiers without both a URL and a model are left out; none at all means rules only."""
    tiers = {
        tier: TierModel(
            client=OpenAIChatClient(
                base_url=endpoint.url,
                model=endpoint.model,
                api_key=endpoint.api_key.get_secret_value() if endpoint.api_key else None,
                timeout_seconds=settings.llm_timeout_seconds,
            ),
            price=endpoint.price,
        )
        for tier, endpoint in tier_endpoints(settings).items()
        if endpoint.configured
    }
    return InferenceConfig(
        tiers=tiers,
        budget=BudgetPolicy(
            daily_budget_usd=settings.llm_daily_budget_usd,
            downgrade_fraction=settings.llm_budget_downgrade_fraction,
            max_completion_tokens=settings.llm_max_completion_tokens,
        ),
        breaker=BreakerPolicy(
            failure_threshold=settings.llm_breaker_failure_threshold,
            cooldown_seconds=settings.llm_breaker_cooldown_seconds,
        ),
        semantic_cache=semantic_cache_config(settings) if tiers else None,
    )


def semantic_cache_config(settings: Settings) -> SemanticCacheConfig | None:
    """None when the cache is switched off."""
    if not settings.llm_semantic_cache_enabled:
        return None
    return SemanticCacheConfig(
        open_client=partial(open_qdrant_at, qdrant_location(settings)),
        embedder=embedder_from_settings(settings),
        threshold=settings.llm_semantic_cache_threshold,
    )


def tier_endpoints(settings: Settings) -> dict[InferenceTier, TierEndpoint]:
    """Every model tier's settings, configured or not."""
    return {
        InferenceTier.SMALL: TierEndpoint(
            url=settings.llm_small_url,
            model=settings.llm_small_model,
            api_key=settings.llm_small_api_key,
            price=TokenPrice(
                input_usd_per_1k=settings.llm_small_input_usd_per_1k,
                output_usd_per_1k=settings.llm_small_output_usd_per_1k,
            ),
        ),
        InferenceTier.MEDIUM: TierEndpoint(
            url=settings.llm_medium_url,
            model=settings.llm_medium_model,
            api_key=settings.llm_medium_api_key,
            price=TokenPrice(
                input_usd_per_1k=settings.llm_medium_input_usd_per_1k,
                output_usd_per_1k=settings.llm_medium_output_usd_per_1k,
            ),
        ),
        InferenceTier.FRONTIER: TierEndpoint(
            url=settings.llm_frontier_url,
            model=settings.llm_frontier_model,
            api_key=settings.llm_frontier_api_key,
            price=TokenPrice(
                input_usd_per_1k=settings.llm_frontier_input_usd_per_1k,
                output_usd_per_1k=settings.llm_frontier_output_usd_per_1k,
            ),
        ),
    }
