"""Tiers, prices, budget and breaker policy read from OPTIINFRA_LLM_* variables."""

import pytest

from optiinfra.llm.config import TokenPrice
from optiinfra.llm.from_settings import inference_config
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.settings import Settings


def test_default_is_rules_only_and_needs_no_key() -> None:
    config = inference_config(Settings(_env_file=None))
    assert dict(config.tiers) == {}


async def test_a_tier_is_configured_by_its_url_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_URL", "http://vllm-medium:8000/v1")
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_MODEL", "Qwen/Qwen2.5-14B-Instruct")
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_API_KEY", "sk-medium")
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_INPUT_USD_PER_1K", "0.2")
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_OUTPUT_USD_PER_1K", "0.6")
    monkeypatch.setenv("OPTIINFRA_LLM_FRONTIER_URL", "https://api.example.com/v1")  # no model: not configured
    monkeypatch.setenv("OPTIINFRA_LLM_MONTHLY_BUDGET_USD", "40")
    monkeypatch.setenv("OPTIINFRA_LLM_BREAKER_FAILURE_THRESHOLD", "5")
    monkeypatch.setenv("OPTIINFRA_LLM_BREAKER_COOLDOWN_SECONDS", "120")
    monkeypatch.setenv("OPTIINFRA_LLM_TIMEOUT_SECONDS", "7.5")
    settings = Settings(_env_file=None)

    config = inference_config(settings)

    assert list(config.tiers) == [InferenceTier.MEDIUM]
    medium = config.tiers[InferenceTier.MEDIUM]
    assert isinstance(medium.client, OpenAIChatClient)
    assert medium.client.model == "Qwen/Qwen2.5-14B-Instruct"
    assert medium.price == TokenPrice(input_usd_per_1k=0.2, output_usd_per_1k=0.6)
    assert config.monthly_budget_usd == 40.0
    assert (config.breaker.failure_threshold, config.breaker.cooldown_seconds) == (5, 120.0)
    assert settings.llm_timeout_seconds == 7.5
    assert settings.llm_medium_api_key is not None
    assert settings.llm_medium_api_key.get_secret_value() == "sk-medium"
    await medium.client.aclose()


def test_token_price() -> None:
    price = TokenPrice(input_usd_per_1k=0.5, output_usd_per_1k=1.5)
    assert price.cost_usd(prompt_tokens=2000, completion_tokens=100) == pytest.approx(1.15)
