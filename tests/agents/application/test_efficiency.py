"""Prompt efficiency on hand-built logs: long prompts with short answers, variance, cacheable parts."""

from datetime import timedelta

import pytest

from agents.application.efficiency import analyze_prompt_efficiency
from agents.application.profile import profile_requests
from optiinfra.domain.application import SECONDS_PER_MONTH
from optiinfra.privacy.aggregates import PromptPart, PromptStructure
from tests.agents.application.records import START, price, records

SHAPES = [(3000, 5), (5000, 20), (2048, 10), (4000, 21), (100, 3)]
GPT = price("gpt", 2.5, 10.0, 128_000, cached_usd=1.25)


def test_long_prompts_with_short_answers_are_counted_and_their_excess_priced() -> None:
    profile = profile_requests(records(SHAPES))
    efficiency = analyze_prompt_efficiency(profile, GPT)
    (found,) = efficiency.types
    # More than 2,048 prompt tokens and at most 20 back: the first two (2,048 is not more; 21 is not short).
    assert found.long_short_requests == 2 and found.long_short_share == pytest.approx(0.4)
    assert found.long_short_input_tokens == 8000 and found.input_tokens == 14148
    assert found.long_short_input_share == pytest.approx(8000 / 14148)
    assert found.excess_input_tokens == (3000 - 2048) + (5000 - 2048)
    assert efficiency.monthly_trim_savings_usd == pytest.approx(3904 * SECONDS_PER_MONTH / 240 * 2.5 / 1e6)
    assert any("40.0% of requests send more than 2,048" in f for f in efficiency.findings)
    # Output lengths 5, 20, 10, 21, 3 vary less than their mean: no variance finding for them.
    assert found.generated_cv < 1.0
    assert not any("output lengths vary" in f for f in efficiency.findings)
    assert found.cacheable_share is None and efficiency.monthly_cache_savings_usd == 0.0


def test_high_variance_and_the_cacheable_prompt_parts_of_tier_2() -> None:
    log = records([(100, 1), (100, 1), (100, 1), (8000, 900)])
    structure = PromptStructure(
        request_type="chat",
        period_start=START,
        period_end=START + timedelta(hours=1),
        requests=4,
        shares={PromptPart.SYSTEM: 0.3, PromptPart.EXAMPLES: 0.2, PromptPart.USER: 0.5},
    )
    profile = profile_requests(log, prompt_structure=[structure])
    efficiency = analyze_prompt_efficiency(profile, GPT)
    (found,) = efficiency.types
    assert found.context_cv > 1.0 and found.generated_cv > 1.0
    assert any("prompt lengths vary widely" in f for f in efficiency.findings)
    assert any("output lengths vary widely" in f for f in efficiency.findings)
    assert found.cacheable_share == pytest.approx(0.5)
    factor = SECONDS_PER_MONTH / 180
    assert efficiency.monthly_cache_savings_usd == pytest.approx(0.5 * 8300 * factor * (2.5 - 1.25) / 1e6)
    assert analyze_prompt_efficiency(profile).monthly_cache_savings_usd is None
