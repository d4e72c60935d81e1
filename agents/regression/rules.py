"""A workload's serving over a period, and the rules that compare it with its baseline.

Across replicas the figures are the Performance agent's (`AsyncMetricsStore.read_workload_windows`): per
period, counts add up and each latency quantile is the worst replica's, an upper bound of the quantile of
the pooled requests. Across periods:

- a p99 is the request-weighted mean of the periods' p99s. Not their maximum: the largest of N window p99s
  grows with N, so a week-long baseline's maximum would sit well above an hour's even when nothing changed
  (hiding regressions), and one bad window would set it. The weighted mean reads the same over spans of
  any length, and weights the periods by the requests that felt them;
- the error rate is failed requests over finished ones (vLLM counts successes in `requests` and failures
  by reason in `errors`, so finished = requests + errors, as `WorkloadWindow.error_rate` reads it);
- `requests` is the finished requests, failures included: a change that makes every request fail must not
  look like a period too quiet to judge.
"""

from collections.abc import Callable, Iterable
from datetime import datetime

from optiinfra.domain.performance import WorkloadWindow
from optiinfra.domain.regression import (
    RegressionFinding,
    RegressionMetric,
    RegressionThresholds,
    RegressionVerdict,
    ServingHealth,
)

_LATENCIES: tuple[
    tuple[
        RegressionMetric,
        str,
        Callable[[WorkloadWindow], float | None],
        Callable[[ServingHealth], float | None],
    ],
    ...,
] = (
    (RegressionMetric.TTFT_P99, "TTFT p99", lambda w: w.ttft_p99, lambda h: h.ttft_p99_s),
    (RegressionMetric.ITL_P99, "inter-token latency p99", lambda w: w.itl_p99, lambda h: h.itl_p99_s),
    (RegressionMetric.E2E_P99, "end-to-end latency p99", lambda w: w.e2e_p99, lambda h: h.e2e_p99_s),
)


def serving_health(
    windows: Iterable[WorkloadWindow],
    *,
    customer_id: str,
    workload_id: str,
    since: datetime,
    until: datetime,
) -> ServingHealth:
    """The workload's figures over [since, until) from its all-replica windows; windows outside the span,
    and windows that finished no request, are left out."""
    served = [w for w in windows if w.start < until and w.end > since and w.requests + w.errors > 0]
    requests = sum(w.requests for w in served)
    errors = sum(w.errors for w in served)
    finished = requests + errors
    ttft, itl, e2e = (_weighted_p99(served, read) for _, _, read, _ in _LATENCIES)
    return ServingHealth(
        customer_id=customer_id,
        workload_id=workload_id,
        since=since,
        until=until,
        windows=len(served),
        requests=finished,
        ttft_p99_s=ttft,
        itl_p99_s=itl,
        e2e_p99_s=e2e,
        error_rate=min(1.0, errors / finished) if finished > 0 else None,
    )


def _weighted_p99(
    windows: list[WorkloadWindow], read: Callable[[WorkloadWindow], float | None]
) -> float | None:
    """The request-weighted mean of the windows' p99 (windows without one, or without a served request,
    carry no weight)."""
    total = weight = 0.0
    for window in windows:
        value = read(window)
        if value is None or window.requests <= 0:
            continue
        total += value * window.requests
        weight += window.requests
    return total / weight if weight > 0 else None


def judge(
    baseline: ServingHealth, current: ServingHealth, thresholds: RegressionThresholds
) -> RegressionVerdict:
    """Regressed when any p99 is more than `max_p99_increase` above the baseline's, or the error rate more
    than `max_error_rate_increase_points` percentage points above it. Fewer than `min_requests` finished
    requests on either side: not judgeable, so not regressed."""
    quiet = [
        f"the {side} served {health.requests:,.0f} requests, fewer than the {thresholds.min_requests:,.0f} "
        "needed"
        for side, health in (("baseline", baseline), ("current period", current))
        if health.requests < thresholds.min_requests
    ]
    if quiet:
        return RegressionVerdict(
            regressed=False,
            judgeable=False,
            baseline=baseline,
            current=current,
            summary=f"Not judged: {'; '.join(quiet)}.",
        )
    findings: list[RegressionFinding] = []
    compared: list[str] = []
    for metric, label, _, read in _LATENCIES:
        before, after = read(baseline), read(current)
        if before is None or after is None:
            continue
        limit = before * (1.0 + thresholds.max_p99_increase)
        moved = f"{_seconds(before)} to {_seconds(after)} ({_relative(before, after)})"
        compared.append(f"{label} {moved}")
        if after > limit:
            findings.append(
                RegressionFinding(
                    metric=metric,
                    baseline=before,
                    current=after,
                    limit=limit,
                    description=(
                        f"{label} rose from {moved}, above the {_seconds(limit)} limit "
                        f"(+{thresholds.max_p99_increase:.0%})"
                    ),
                )
            )
    if baseline.error_rate is not None and current.error_rate is not None:
        before, after = baseline.error_rate, current.error_rate
        points = thresholds.max_error_rate_increase_points
        limit = before + points / 100.0
        compared.append(f"error rate {before:.2%} to {after:.2%} ({(after - before) * 100:+.2f} points)")
        if after > limit:
            findings.append(
                RegressionFinding(
                    metric=RegressionMetric.ERROR_RATE,
                    baseline=before,
                    current=after,
                    limit=limit,
                    description=(
                        f"error rate rose from {before:.2%} to {after:.2%} ({(after - before) * 100:+.2f} "
                        f"points), above the {limit:.2%} limit (+{points:g} points)"
                    ),
                )
            )
    if findings:
        summary = "Regressed: " + "; ".join(f.description for f in findings) + "."
    else:
        measured = "; ".join(compared) if compared else "no latency or error figures to compare"
        summary = f"No regression over {current.requests:,.0f} requests: {measured}."
    return RegressionVerdict(
        regressed=bool(findings), findings=findings, baseline=baseline, current=current, summary=summary
    )


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1.0 else f"{value:.2f} s"


def _relative(before: float, after: float) -> str:
    if before <= 0:
        return "from zero" if after > 0 else "unchanged"
    return f"{after / before - 1.0:+.0%}"
