"""Tiers, prices, budget, breaker policy and semantic cache read from OPTIINFRA_LLM_* variables."""

from pathlib import Path

import pytest

from optiinfra.llm.config import BudgetPolicy, TokenPrice
from optiinfra.llm.from_settings import inference_config
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.settings import Settings
from optiinfra.vectors.hashing import HashingEmbedder
from optiinfra.vectors.qdrant import close_qdrant_clients


def test_default_is_rules_only_and_needs_no_key() -> None:
    config = inference_config(Settings(_env_file=None))
    assert dict(config.tiers) == {}
    assert config.semantic_cache is None  # no model, nothing to cache
    assert config.budget == BudgetPolicy(
        daily_budget_usd=5.0, downgrade_fraction=0.8, max_completion_tokens=1024
    )


async def test_a_tier_is_configured_by_its_url_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_URL", "http://vllm-medium:8000/v1")
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_MODEL", "Qwen/Qwen2.5-14B-Instruct")
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_API_KEY", "sk-medium")
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_INPUT_USD_PER_1K", "0.2")
    monkeypatch.setenv("OPTIINFRA_LLM_MEDIUM_OUTPUT_USD_PER_1K", "0.6")
    monkeypatch.setenv("OPTIINFRA_LLM_FRONTIER_URL", "https://api.example.com/v1")  # no model: not configured
    monkeypatch.setenv("OPTIINFRA_LLM_DAILY_BUDGET_USD", "40")
    monkeypatch.setenv("OPTIINFRA_LLM_BUDGET_DOWNGRADE_FRACTION", "0.5")
    monkeypatch.setenv("OPTIINFRA_LLM_MAX_COMPLETION_TOKENS", "600")
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
    assert config.budget == BudgetPolicy(
        daily_budget_usd=40.0, downgrade_fraction=0.5, max_completion_tokens=600
    )
    assert (config.breaker.failure_threshold, config.breaker.cooldown_seconds) == (5, 120.0)
    assert settings.llm_timeout_seconds == 7.5
    assert settings.llm_medium_api_key is not None
    assert settings.llm_medium_api_key.get_secret_value() == "sk-medium"
    await medium.client.aclose()


def test_token_price() -> None:
    price = TokenPrice(input_usd_per_1k=0.5, output_usd_per_1k=1.5)
    assert price.cost_usd(prompt_tokens=2000, completion_tokens=100) == pytest.approx(1.15)


async def test_the_semantic_cache_opens_its_qdrant_only_when_first_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPTIINFRA_LLM_SMALL_URL", "http://vllm-small:8000/v1")
    monkeypatch.setenv("OPTIINFRA_LLM_SMALL_MODEL", "Qwen/Qwen2.5-1.5B-Instruct")
    monkeypatch.setenv("OPTIINFRA_LLM_SEMANTIC_CACHE_THRESHOLD", "0.95")
    config = inference_config(Settings(_env_file=None, state_dir=tmp_path))
    try:
        cache = config.semantic_cache
        assert cache is not None
        assert cache.threshold == 0.95
        assert isinstance(cache.embedder, HashingEmbedder)
        assert not (tmp_path / "qdrant").exists()
        client = cache.open_client()
        assert (tmp_path / "qdrant").is_dir()
        assert cache.open_client() is client
    finally:
        close_qdrant_clients()
        await config.tiers[InferenceTier.SMALL].client.aclose()


async def test_the_semantic_cache_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIINFRA_LLM_SMALL_URL", "http://vllm-small:8000/v1")
    monkeypatch.setenv("OPTIINFRA_LLM_SMALL_MODEL", "m")
    monkeypatch.setenv("OPTIINFRA_LLM_SEMANTIC_CACHE_ENABLED", "false")
    config = inference_config(Settings(_env_file=None))
    assert config.semantic_cache is None
    await config.tiers[InferenceTier.SMALL].client.aclose()
