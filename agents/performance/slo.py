"""SLO monitoring: a workload's latency and error objectives checked window by window against what its vLLM
histograms measured, and compliance over spans of windows with the error budget it leaves."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from optiinfra.domain.fleet import Workload
from optiinfra.domain.performance import WorkloadWindow

DEFAULT_OBJECTIVE = 0.99
"""Share of measured windows that must meet every target."""
DEFAULT_MAX_ERROR_RATE = 0.01
"""Failed requests per finished request a window may have."""


class SloTarget(BaseModel):
    """Per-workload targets: p95 TTFT and p95 inter-token latency (required), p95 end-to-end latency
    (optional), the error rate, and the share of windows that must meet them all."""

    model_config = ConfigDict(frozen=True)

    ttft_p95_s: float = Field(gt=0)
    itl_p95_s: float = Field(gt=0)
    e2e_p95_s: float | None = Field(default=None, gt=0)
    max_error_rate: float = Field(default=DEFAULT_MAX_ERROR_RATE, ge=0, le=1)
    objective: float = Field(default=DEFAULT_OBJECTIVE, gt=0, lt=1)


def slo_target(workload: Workload) -> SloTarget | None:
    """The workload's declared objective; None when it declares no latency objective."""
    if workload.slo_ttft_p95_s is None or workload.slo_itl_p95_s is None:
        return None
    return SloTarget(ttft_p95_s=workload.slo_ttft_p95_s, itl_p95_s=workload.slo_itl_p95_s)


class WindowVerdict(BaseModel):
    start: datetime
    met: bool
    breaches: list[str] = Field(default_factory=list, description="Which targets it missed, e.g. 'ttft_p95'")


def judge_window(window: WorkloadWindow, target: SloTarget) -> WindowVerdict | None:
    """Whether one window met every target; None when it served nothing to measure. A window with requests
    but no latency histogram counts as missed: silence is not compliance."""
    if window.requests <= 0 and window.errors <= 0:
        return None
    breaches: list[str] = []
    checks = (
        ("ttft_p95", window.ttft_p95, target.ttft_p95_s),
        ("itl_p95", window.itl_p95, target.itl_p95_s),
        ("e2e_p95", window.e2e_p95, target.e2e_p95_s),
    )
    for name, observed, limit in checks:
        if limit is None:
            continue
        if observed is None:
            if window.requests > 0:
                breaches.append(f"{name} unmeasured")
        elif observed > limit:
            breaches.append(name)
    error_rate = window.error_rate
    if error_rate is not None and error_rate > target.max_error_rate:
        breaches.append("error_rate")
    return WindowVerdict(start=window.start, met=not breaches, breaches=breaches)


class SloCompliance(BaseModel):
    """Compliance over a span of windows. `burn_rate` is how fast the span spent its error budget: 1 spends
    exactly the budget the objective allows, above 1 breaks the objective if it lasts."""

    windows: int
    measured: int
    met: int
    objective: float
    breaches: dict[str, int] = Field(default_factory=dict, description="Windows that missed each target")
    worst_ttft_p95_s: float | None = None
    worst_itl_p95_s: float | None = None
    worst_queue_p95_s: float | None = None

    @property
    def compliance(self) -> float | None:
        return self.met / self.measured if self.measured else None

    @property
    def burn_rate(self) -> float | None:
        compliance = self.compliance
        return None if compliance is None else (1.0 - compliance) / (1.0 - self.objective)

    @property
    def meets_objective(self) -> bool:
        compliance = self.compliance
        return compliance is None or compliance >= self.objective

    def describe(self) -> str:
        compliance = self.compliance
        if compliance is None:
            return f"no measured windows among {self.windows}"
        text = (
            f"{self.met}/{self.measured} windows met the SLO "
            f"({compliance:.1%}, objective {self.objective:.0%})"
        )
        if self.breaches:
            text += "; missed: " + ", ".join(
                f"{name} in {count}" for name, count in sorted(self.breaches.items())
            )
        return text


def compliance(windows: Sequence[WorkloadWindow], target: SloTarget) -> SloCompliance:
    verdicts = [v for v in (judge_window(w, target) for w in windows) if v is not None]
    breaches: dict[str, int] = {}
    for verdict in verdicts:
        for breach in verdict.breaches:
            breaches[breach] = breaches.get(breach, 0) + 1
    return SloCompliance(
        windows=len(windows),
        measured=len(verdicts),
        met=sum(v.met for v in verdicts),
        objective=target.objective,
        breaches=breaches,
        worst_ttft_p95_s=_worst(w.ttft_p95 for w in windows),
        worst_itl_p95_s=_worst(w.itl_p95 for w in windows),
        worst_queue_p95_s=_worst(w.queue_p95 for w in windows),
    )


def compliance_since(windows: Sequence[WorkloadWindow], target: SloTarget, since: datetime) -> SloCompliance:
    """Compliance over the windows that start at or after `since` (e.g. the last hour, the last day)."""
    return compliance([w for w in windows if w.start >= since], target)


def _worst(values: Iterable[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None
