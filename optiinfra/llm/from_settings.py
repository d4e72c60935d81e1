"""Builds the inference configuration from settings: one OpenAI-compatible client per configured tier."""

from dataclasses import dataclass

from pydantic import SecretStr

from optiinfra.llm.config import BreakerPolicy, InferenceConfig, TierModel, TokenPrice
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.settings import Settings


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
        monthly_budget_usd=settings.llm_monthly_budget_usd,
        breaker=BreakerPolicy(
            failure_threshold=settings.llm_breaker_failure_threshold,
            cooldown_seconds=settings.llm_breaker_cooldown_seconds,
        ),
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
