"""Inference cost per workload: $ per 1M tokens blended and per phase with OpenCost's multiplier split,
idle GPU cost where utilization was read. Expected figures are worked out by hand."""

from datetime import UTC, date, datetime, timedelta

import pytest

from optiinfra.domain.enums import PurchaseOption
from optiinfra.metrics.reporting import DailyTokens
from optiinfra.metrics.store import CostSample
from optiinfra.reports.costs import HourCost, hour_costs
from optiinfra.reports.inference_cost import inference_cost
from tests.optiinfra.store import factories

H0 = datetime(2026, 3, 1, tzinfo=UTC)
M = 1_000_000


def _hours() -> list[HourCost]:
    """Ten $2 one-GPU instance-hours; four of them read 50 % GPU utilization."""
    samples = [
        CostSample(
            customer_id="acme",
            instance_id="i-1",
            instance_type="g5.xlarge",
            lifecycle=PurchaseOption.SPOT,
            hour=H0 + timedelta(hours=n),
            hourly_usd=2.0,
        )
        for n in range(10)
    ]
    used = {("i-1", H0 + timedelta(hours=n)): 50.0 for n in range(4)}
    return hour_costs(samples, {"g5.xlarge": 1}, used)


TOKENS = [
    DailyTokens(
        day=date(2026, 3, 1),
        requests=1000,
        prompt_tokens=3 * M,
        generation_tokens=M,
        prefix_queries=3 * M,
        prefix_hits=600_000,
    ),
    DailyTokens(
        day=date(2026, 3, 2),
        requests=500,
        prompt_tokens=M,
        generation_tokens=M,
        prefix_queries=M,
        prefix_hits=200_000,
    ),
]


def test_cost_per_million_tokens_blended_and_split_by_the_multiplier() -> None:
    found = inference_cost(factories.workload(), _hours(), TOKENS, instances=1)
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
    assert no_tokens.cache_savings_fraction is None
