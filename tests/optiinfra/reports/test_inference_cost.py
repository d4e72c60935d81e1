"""Inference cost per workload: $ per 1M tokens blended and per phase with OpenCost's multiplier split,
over the cost of the hours in which tokens were counted; idle GPU cost where utilization was read.
Expected figures are worked out by hand."""

from datetime import UTC, date, datetime, timedelta

import pytest

from optiinfra.domain.enums import PurchaseOption
from optiinfra.metrics.reporting import DailyTokens, HourlyTokens
from optiinfra.metrics.store import CostSample
from optiinfra.reports.costs import HourCost, hour_costs
from optiinfra.reports.inference_cost import BASIS, inference_cost
from tests.optiinfra.store import factories

H0 = datetime(2026, 3, 1, tzinfo=UTC)
M = 1_000_000


def _hours(count: int = 10, start: datetime = H0) -> list[HourCost]:
    """`count` $2 one-GPU instance-hours from `start`; the first four of them read 50 % GPU utilization."""
    samples = [
        CostSample(
            customer_id="acme",
            instance_id="i-1",
            instance_type="g5.xlarge",
            lifecycle=PurchaseOption.SPOT,
            hour=start + timedelta(hours=n),
            hourly_usd=2.0,
        )
        for n in range(count)
    ]
    used = {("i-1", start + timedelta(hours=n)): 50.0 for n in range(4)}
    return hour_costs(samples, {"g5.xlarge": 1}, used)


def _day(day: date, prompt: float, generation: float, requests: float = 0.0) -> DailyTokens:
    return DailyTokens(
        day=day,
        requests=requests,
        prompt_tokens=prompt,
        generation_tokens=generation,
        prefix_queries=prompt,
        prefix_hits=prompt / 5,
    )


def _hour(hour: datetime, prompt: float, generation: float, counted_seconds: float = 3600.0) -> HourlyTokens:
    return HourlyTokens(
        hour=hour,
        requests=0.0,
        prompt_tokens=prompt,
        generation_tokens=generation,
        prefix_queries=prompt,
        prefix_hits=prompt / 5,
        counted_seconds=counted_seconds,
    )


TOKENS = [_day(date(2026, 3, 1), 4 * M, 2 * M, requests=1500)]
"""The day's rollup: what the ten hours below add up to."""
HOURLY = [_hour(H0 + timedelta(hours=n), 400_000, 200_000) for n in range(10)]


def test_cost_per_million_tokens_blended_and_split_by_the_multiplier() -> None:
    found = inference_cost(factories.workload(), _hours(), TOKENS, instances=1, hourly=HOURLY)
    assert (found.model_name, found.total_cost_usd, found.gpu_hours) == (
        "meta-llama/Llama-3.1-8B-Instruct",
        20.0,
        10.0,
    )
    assert (found.prompt_tokens, found.generation_tokens, found.total_tokens, found.requests) == (
        4 * M,
        2 * M,
        6 * M,
        1500,
    )
    assert found.cost_per_million_tokens == pytest.approx(20 / 6)
    # An output token costs 2.5 input tokens: 4M + 2.5 x 2M = 9M input-token equivalents for $20.
    assert found.input_cost_usd == pytest.approx(20 * 4 / 9)
    assert found.output_cost_usd == pytest.approx(20 * 5 / 9)
    assert found.input_cost_per_million_tokens == pytest.approx(20 / 9)
    assert found.output_cost_per_million_tokens == pytest.approx(2.5 * 20 / 9)
    assert found.cache_savings_fraction == pytest.approx(0.2)
    assert (found.cost_basis, found.allocation_method, found.output_input_cost_ratio) == (
        "allocation",
        "multiplier",
        2.5,
    )
    # Tokens were counted in every hour with a cost record: the per-token figures cover all the cost.
    assert (found.token_covered_cost_usd, found.token_coverage, found.token_covered_hours) == (20.0, 1.0, 10)
    assert (found.token_covered_prompt_tokens, found.token_covered_generation_tokens) == (4 * M, 2 * M)
    assert not any("hours with token counts" in note for note in found.notes)


def test_onboarding_divides_the_cost_of_the_hours_with_token_counts_by_their_tokens() -> None:
    """Thirty days of billing history, token counting for the last two hours only: the rate is those two
    hours' cost over their tokens, not a month's cost over two hours of tokens."""
    hours = _hours(30 * 24)
    last, before_last = hours[-1].hour, hours[-2].hour
    hourly = [_hour(before_last, 300_000, 100_000), _hour(last, 500_000, 100_000)]
    tokens = [_day(last.date(), 800_000, 200_000)]
    found = inference_cost(factories.workload(), hours, tokens, instances=1, hourly=hourly)
    assert found.total_cost_usd == pytest.approx(30 * 24 * 2.0)  # every hour still counts here
    assert found.idle_gpu_cost_usd == pytest.approx(4.0)
    assert found.token_covered_cost_usd == pytest.approx(4.0)
    assert found.token_covered_hours == 2
    assert found.token_coverage == pytest.approx(4.0 / 1440)
    assert found.cost_per_million_tokens == pytest.approx(4.0)  # $4 for 1M tokens
    # 800k prompt + 2.5 x 200k generated = 1.3M input-token equivalents for $4.
    assert found.input_cost_usd == pytest.approx(4 * 0.8 / 1.3)
    assert found.output_cost_usd == pytest.approx(4 * 0.5 / 1.3)
    assert found.input_cost_per_million_tokens == pytest.approx(4 / 1.3)
    assert found.output_cost_per_million_tokens == pytest.approx(2.5 * 4 / 1.3)
    assert "$ per 1M tokens over the 2 hours with token counts, 0.278% of the cost" in found.notes
    # What the figure was before: a month of cost over two hours of tokens.
    assert found.total_cost_usd / found.total_tokens * M == pytest.approx(1440.0)
    assert "token_covered_cost_usd" in BASIS


def test_an_hour_in_which_counting_began_costs_the_part_the_windows_span() -> None:
    hours = _hours(5)
    hourly = [
        _hour(H0 + timedelta(hours=3), 100_000, 0, counted_seconds=900),
        _hour(H0 + timedelta(hours=4), M, 0),
    ]
    found = inference_cost(factories.workload(), hours, [], instances=1, hourly=hourly)
    assert found.token_covered_cost_usd == pytest.approx(2.0 / 4 + 2.0)
    assert found.token_covered_hours == pytest.approx(1.25)
    assert found.cost_per_million_tokens == pytest.approx(2.5 / 1.1)
    assert "$ per 1M tokens over the 1.2 hours with token counts, 25% of the cost" in found.notes


def test_tokens_of_hours_without_a_cost_record_are_left_out_of_the_rate() -> None:
    hourly = [*HOURLY, _hour(H0 + timedelta(hours=10), 3 * M, 0)]  # the hour after the last record
    found = inference_cost(factories.workload(), _hours(), TOKENS, instances=1, hourly=hourly)
    assert found.cost_per_million_tokens == pytest.approx(20 / 6)
    assert found.token_coverage == 1.0
    assert any("3,000,000 tokens counted in hours without a cost record" in note for note in found.notes)
    only_unbilled = inference_cost(
        factories.workload(), _hours(), TOKENS, instances=1, hourly=[_hour(H0 + timedelta(hours=10), M, 0)]
    )
    assert (only_unbilled.token_covered_cost_usd, only_unbilled.cost_per_million_tokens) == (None, None)
    assert any("only in hours without a cost record" in note for note in only_unbilled.notes)


def test_days_past_the_raw_windows_are_matched_by_the_day_from_the_rollup() -> None:
    """Day one has no raw windows left (past their retention): its 24 hours of cost go with its rolled-up
    tokens. Day three still has raw windows, in two hours: those go by the hour. Day two counted nothing."""
    hours = _hours(3 * 24)
    day_three = H0 + timedelta(days=2)
    tokens = [
        _day(date(2026, 3, 1), 8 * M, 2 * M),
        _day(date(2026, 3, 3), 1.5 * M, 0.5 * M),
    ]
    hourly = [
        _hour(day_three + timedelta(hours=5), M, 0),
        _hour(day_three + timedelta(hours=6), 0.5 * M, 0.5 * M),
    ]
    found = inference_cost(factories.workload(), hours, tokens, instances=1, hourly=hourly)
    assert found.total_cost_usd == pytest.approx(144.0)
    assert found.token_covered_cost_usd == pytest.approx(24 * 2.0 + 2 * 2.0)
    assert found.token_covered_hours == 26
    assert found.token_coverage == pytest.approx(52 / 144)
    assert found.cost_per_million_tokens == pytest.approx(52 / 12)
    assert any("1 day(s) past the raw windows' retention matched by the day" in n for n in found.notes)
    assert "$ per 1M tokens over the 26 hours with token counts, 36.1% of the cost" in found.notes
    rollup_only = inference_cost(factories.workload(), _hours(), TOKENS, instances=1)
    assert rollup_only.cost_per_million_tokens == pytest.approx(20 / 6)  # the whole day, its tokens
    assert (rollup_only.token_coverage, rollup_only.token_covered_hours) == (1.0, 10)


def test_idle_gpu_cost_counts_the_hours_with_a_utilization_reading() -> None:
    found = inference_cost(factories.workload(), _hours(), TOKENS, instances=1)
    assert found.idle_gpu_cost_usd == pytest.approx(4.0)  # 4 hours x $2 x 50 % idle
    assert found.idle_gpu_hours == pytest.approx(2.0)
    assert found.utilization_coverage == pytest.approx(0.4)
    assert any("only the instance-hours" in note for note in found.notes)


def test_without_cost_or_tokens_no_rate_is_made_up() -> None:
    no_cost = inference_cost(factories.workload(), [], TOKENS, instances=0)
    assert (no_cost.total_cost_usd, no_cost.cost_per_million_tokens, no_cost.input_cost_usd) == (
        None,
        None,
        None,
    )
    assert no_cost.idle_gpu_cost_usd is None
    assert any("no hourly cost record" in note for note in no_cost.notes)
    no_tokens = inference_cost(factories.workload(), _hours(), [], instances=1)
    assert no_tokens.total_cost_usd == 20.0
    assert (no_tokens.cost_per_million_tokens, no_tokens.output_cost_per_million_tokens) == (None, None)
    assert (no_tokens.token_covered_cost_usd, no_tokens.token_coverage, no_tokens.token_covered_hours) == (
        None,
        None,
        0,
    )
    assert no_tokens.cache_savings_fraction is None
    assert "no token counted in these days" in no_tokens.notes
    # Counting ran, but nothing was served: the hours are matched, and there is still no rate to give.
    idle = inference_cost(
        factories.workload(), _hours(), [_day(H0.date(), 0, 0)], instances=1, hourly=[_hour(H0, 0, 0)]
    )
    assert (idle.token_covered_cost_usd, idle.cost_per_million_tokens, idle.input_cost_usd) == (
        2.0,
        None,
        None,
    )
    assert "no token counted in these days" in idle.notes
