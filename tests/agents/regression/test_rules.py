"""The serving figures of a period and the rules that judge it against its baseline."""

from datetime import timedelta
from typing import Any

import pytest

from agents.regression.rules import judge, serving_health
from optiinfra.domain.regression import RegressionMetric, RegressionThresholds
from tests.agents.regression.builders import HOUR, T0, health, window


def test_p99_is_the_request_weighted_mean_of_the_windows_p99() -> None:
    windows = [
        window(T0, requests=100, ttft_p99=1.0, itl_p99=0.04, e2e_p99=10.0),
        window(T0 + timedelta(minutes=10), requests=300, ttft_p99=2.0, itl_p99=0.08, e2e_p99=30.0),
    ]
    figures = serving_health(windows, customer_id="demo", workload_id="assistant", since=T0, until=T0 + HOUR)

    assert figures.ttft_p99_s == pytest.approx((100 * 1.0 + 300 * 2.0) / 400)
    assert figures.itl_p99_s == pytest.approx((100 * 0.04 + 300 * 0.08) / 400)
    assert figures.e2e_p99_s == pytest.approx(25.0)
    assert (figures.windows, figures.requests, figures.error_rate) == (2, 400.0, 0.0)
    assert (figures.customer_id, figures.since, figures.until) == ("demo", T0, T0 + HOUR)


def test_error_rate_is_failed_over_finished_requests_and_failures_count_as_requests() -> None:
    windows = [window(T0, requests=90, errors=10), window(T0 + timedelta(minutes=10), requests=0, errors=100)]
    figures = serving_health(windows, customer_id="demo", workload_id="assistant", since=T0, until=T0 + HOUR)

    assert figures.requests == 200.0
    assert figures.error_rate == pytest.approx(110 / 200)
    # The window where everything failed has no served request: it carries no latency weight.
    assert figures.ttft_p99_s == pytest.approx(0.9)


def test_windows_outside_the_period_or_without_traffic_are_left_out() -> None:
    windows = [
        window(T0 - timedelta(minutes=10), ttft_p99=9.0),  # ends as the period starts
        window(T0, ttft_p99=1.0),
        window(T0 + timedelta(minutes=10), requests=0, ttft_p99=None, itl_p99=None, e2e_p99=None),
        window(T0 + HOUR, ttft_p99=9.0),  # starts as it ends
    ]
    figures = serving_health(windows, customer_id="demo", workload_id="assistant", since=T0, until=T0 + HOUR)

    assert figures.windows == 1
    assert figures.ttft_p99_s == pytest.approx(1.0)


def test_no_windows_give_no_figures() -> None:
    figures = serving_health([], customer_id="demo", workload_id="assistant", since=T0, until=T0 + HOUR)
    assert (figures.windows, figures.requests) == (0, 0.0)
    assert (figures.ttft_p99_s, figures.itl_p99_s, figures.e2e_p99_s, figures.error_rate) == (None,) * 4


def test_a_p99_more_than_20_percent_over_the_baseline_is_a_regression() -> None:
    verdict = judge(health(), health(ttft=1.35, since_hours=1), RegressionThresholds())

    assert verdict.regressed and verdict.judgeable
    [finding] = verdict.findings
    assert finding.metric is RegressionMetric.TTFT_P99
    assert (finding.baseline, finding.current) == (0.9, 1.35)
    assert finding.limit == pytest.approx(1.08)
    assert finding.description == "TTFT p99 rose from 900 ms to 1.35 s (+50%), above the 1.08 s limit (+20%)"
    assert verdict.summary == f"Regressed: {finding.description}."
    assert "\n" not in verdict.summary


@pytest.mark.parametrize(
    ("field", "value", "metric"),
    [
        ("itl", 0.0601, RegressionMetric.ITL_P99),
        ("e2e", 24.5, RegressionMetric.E2E_P99),
    ],
)
def test_each_p99_is_judged(field: str, value: float, metric: RegressionMetric) -> None:
    changed: dict[str, Any] = {field: value}
    verdict = judge(health(), health(**changed), RegressionThresholds())
    assert [f.metric for f in verdict.findings] == [metric]


def test_growth_within_the_limit_is_not_a_regression() -> None:
    verdict = judge(
        health(), health(ttft=1.07, itl=0.059, e2e=23.9, error_rate=0.0109), RegressionThresholds()
    )

    assert not verdict.regressed and verdict.judgeable and verdict.findings == []
    assert verdict.summary == (
        "No regression over 10,000 requests: TTFT p99 900 ms to 1.07 s (+19%); inter-token latency p99 50 ms "
        "to 59 ms (+18%); end-to-end latency p99 20.00 s to 23.90 s (+19%); error rate 0.10% to 1.09% "
        "(+0.99 points)."
    )


def test_an_error_rate_more_than_one_point_up_is_a_regression() -> None:
    verdict = judge(health(error_rate=0.005), health(error_rate=0.0251), RegressionThresholds())

    [finding] = verdict.findings
    assert finding.metric is RegressionMetric.ERROR_RATE
    assert finding.limit == pytest.approx(0.015)
    assert finding.description == (
        "error rate rose from 0.50% to 2.51% (+2.01 points), above the 1.50% limit (+1 points)"
    )


def test_thresholds_are_the_ones_given() -> None:
    strict = RegressionThresholds(max_p99_increase=0.05, max_error_rate_increase_points=0.5)
    verdict = judge(health(), health(ttft=0.99, error_rate=0.0071), strict)
    assert [f.metric for f in verdict.findings] == [RegressionMetric.TTFT_P99, RegressionMetric.ERROR_RATE]


def test_several_findings_are_all_named_in_the_summary() -> None:
    verdict = judge(health(), health(ttft=2.0, itl=0.1, error_rate=0.05), RegressionThresholds())
    assert [f.metric for f in verdict.findings] == [
        RegressionMetric.TTFT_P99,
        RegressionMetric.ITL_P99,
        RegressionMetric.ERROR_RATE,
    ]
    for finding in verdict.findings:
        assert finding.description in verdict.summary


@pytest.mark.parametrize(("baseline_requests", "current_requests"), [(49.0, 10_000.0), (10_000.0, 49.0)])
def test_too_few_requests_on_either_side_cannot_be_judged(
    baseline_requests: float, current_requests: float
) -> None:
    verdict = judge(
        health(requests=baseline_requests),
        health(requests=current_requests, ttft=5.0, error_rate=0.5),
        RegressionThresholds(min_requests=50),
    )

    assert not verdict.regressed and not verdict.judgeable and verdict.findings == []
    assert verdict.summary.startswith("Not judged: the ")
    assert "fewer than the 50 needed" in verdict.summary


def test_a_side_without_latency_figures_is_judged_on_what_it_has() -> None:
    verdict = judge(health(ttft=None), health(ttft=3.0, itl=0.5), RegressionThresholds())
    assert [f.metric for f in verdict.findings] == [RegressionMetric.ITL_P99]
