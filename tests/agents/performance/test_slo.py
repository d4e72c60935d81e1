from datetime import UTC, datetime, timedelta

import pytest

from agents.performance.slo import SloTarget, compliance, compliance_since, judge_window, slo_target
from optiinfra.domain.fleet import Workload
from optiinfra.domain.performance import WorkloadWindow

START = datetime(2026, 11, 2, tzinfo=UTC)
TARGET = SloTarget(ttft_p95_s=2.0, itl_p95_s=0.1)


def window(
    minute: int,
    *,
    ttft: float | None = 1.0,
    itl: float | None = 0.05,
    requests: float = 100,
    errors: float = 0,
) -> WorkloadWindow:
    return WorkloadWindow(
        start=START + timedelta(minutes=10 * minute),
        seconds=600,
        replicas=2,
        requests=requests,
        request_rate=requests / 600,
        prompt_tokens=requests * 1000,
        generation_tokens=requests * 200,
        errors=errors,
        preemptions=0,
        ttft_p95=ttft,
        itl_p95=itl,
    )


def test_a_window_meets_the_slo_only_when_every_target_holds() -> None:
    assert judge_window(window(0), TARGET).met  # type: ignore[union-attr]
    late = judge_window(window(0, ttft=2.5), TARGET)
    assert late is not None and not late.met and late.breaches == ["ttft_p95"]
    slow = judge_window(window(0, itl=0.2, errors=5), TARGET)
    assert slow is not None and slow.breaches == ["itl_p95", "error_rate"]


def test_an_idle_window_is_not_measured_but_a_silent_busy_one_is_missed() -> None:
    assert judge_window(window(0, requests=0, ttft=None, itl=None), TARGET) is None
    silent = judge_window(window(0, ttft=None), TARGET)
    assert silent is not None and not silent.met and silent.breaches == ["ttft_p95 unmeasured"]


def test_compliance_counts_windows_and_burns_the_error_budget() -> None:
    windows = [window(i) for i in range(98)] + [window(98, ttft=3.0), window(99, itl=0.3)]
    found = compliance(windows, TARGET)
    assert (found.measured, found.met) == (100, 98)
    assert found.compliance == pytest.approx(0.98)
    assert found.burn_rate == pytest.approx(2.0)
    assert not found.meets_objective
    assert found.breaches == {"ttft_p95": 1, "itl_p95": 1}
    assert found.worst_ttft_p95_s == 3.0
    recent = compliance_since(windows, TARGET, START + timedelta(minutes=10 * 99))
    assert (recent.measured, recent.met) == (1, 0)
    assert "98/100 windows met the SLO" in found.describe()


def test_a_workload_without_latency_objectives_has_no_target() -> None:
    workload = Workload(customer_id="c", workload_id="w", name="w", model_name="m", region="us-east-1")
    assert slo_target(workload) is None
    declared = workload.model_copy(update={"slo_ttft_p95_s": 3.0, "slo_itl_p95_s": 0.08})
    assert slo_target(declared) == SloTarget(ttft_p95_s=3.0, itl_p95_s=0.08)
