"""Choosing the forecasting method for a workload: backtest each allowed method on the last stretch of its
history, keep the lowest error, and forecast with it from the whole history."""

import math
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents.performance.forecast.common import DAY_S, WEEK_S, season_steps
from agents.performance.forecast.history import GRID_TOLERANCE, RateHistory
from agents.performance.forecast.methods import backtest_mape, forecast
from agents.performance.forecast.model import Forecast, ForecastMethod
from agents.performance.forecast.seasonal_naive import choose_season_s

SIMPLICITY = (ForecastMethod.SEASONAL_NAIVE, ForecastMethod.HOLT_WINTERS, ForecastMethod.PROPHET)
"""Simplest first: of methods whose backtest errors tie, the simplest is chosen."""
TIE_PERCENT = 1e-6
"""Backtest errors closer than this (percentage points) count as a tie."""


class ForecastSettings(BaseModel):
    """How far ahead to forecast, at what resolution, and how to choose the method."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    horizon_s: float = Field(default=3600.0, gt=0, description="How far ahead to forecast")
    interval_s: float = Field(default=600.0, gt=0, description="Length of one history and forecast interval")
    interval_width: float = Field(default=0.9, gt=0, lt=1, description="Coverage of the prediction interval")
    methods: tuple[ForecastMethod, ...] = Field(
        default=(ForecastMethod.PROPHET, ForecastMethod.SEASONAL_NAIVE, ForecastMethod.HOLT_WINTERS),
        min_length=1,
        description="Methods allowed to compete",
    )
    backtest_s: float = Field(
        default=DAY_S, gt=0, description="Held-out tail of history the methods are scored on"
    )
    min_history_s: float = Field(
        default=2 * DAY_S, ge=0, description="Training history below which Prophet is not tried"
    )

    @field_validator("methods")
    @classmethod
    def _distinct(cls, methods: tuple[ForecastMethod, ...]) -> tuple[ForecastMethod, ...]:
        return tuple(dict.fromkeys(methods))

    @property
    def horizon_steps(self) -> int:
        """Forecast intervals that cover the horizon."""
        return max(1, math.ceil(self.horizon_s / self.interval_s - GRID_TOLERANCE))


@dataclass(frozen=True)
class ForecastChoice:
    """The chosen method, its forecast from the whole history, and why it was chosen."""

    method: ForecastMethod
    forecast: Forecast
    mape_by_method: dict[ForecastMethod, float]
    """Backtest MAPE (percent) of each method that could be scored; empty when there was no backtest."""
    reason: str
    skipped: dict[ForecastMethod, str] = field(default_factory=dict)
    """Why each allowed method that is not in mape_by_method (or failed its final fit) was left out."""


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.4g} h"


def _fallback(
    history: RateHistory, settings: ForecastSettings, why: str, skipped: dict[ForecastMethod, str]
) -> ForecastChoice:
    result = forecast(
        ForecastMethod.SEASONAL_NAIVE, history, settings.horizon_steps, interval_width=settings.interval_width
    )
    if len(history.values) < season_steps(DAY_S, history.interval_s):
        repeats = "the last observed rate"
    else:
        repeats = "last week's rate" if choose_season_s(history) == WEEK_S else "yesterday's rate"
    return ForecastChoice(
        method=ForecastMethod.SEASONAL_NAIVE,
        forecast=result,
        mape_by_method={},
        reason=f"{why}, so the forecast falls back to seasonal naive, repeating {repeats}.",
        skipped=skipped,
    )


def _reason(
    winner: ForecastMethod,
    scores: dict[ForecastMethod, float],
    skipped: dict[ForecastMethod, str],
    backtest_s: float,
) -> str:
    others = [f"{method} {score:.1f}%" for method, score in scores.items() if method is not winner]
    ties = [
        method
        for method, score in scores.items()
        if method is not winner and abs(score - scores[winner]) <= TIE_PERCENT
    ]
    best = min(scores.values()) >= scores[winner] - TIE_PERCENT
    text = (
        f"{winner} had the lowest MAPE ({scores[winner]:.1f}%)"
        f"{'' if best else ' of the methods whose final fit succeeded'}, backtested on the last "
        f"{_hours(backtest_s)}"
    )
    if others:
        text += f", against {', '.join(others)}"
    if ties:
        text += f" (tied with {', '.join(ties)}: the simpler method wins)"
    if skipped:
        text += "; " + "; ".join(f"{method} left out: {why}" for method, why in skipped.items())
    return text + "."


DEFAULT_SETTINGS = ForecastSettings()


def choose_forecast(history: RateHistory, settings: ForecastSettings = DEFAULT_SETTINGS) -> ForecastChoice:
    """Backtest every allowed method on the last `settings.backtest_s` of the history (trained on what comes
    before), choose the lowest MAPE (the simplest on a tie) and forecast with it from the whole history.

    Prophet is tried only on at least `settings.min_history_s` of training history. A method that raises is
    left out with the reason recorded. With less history than the backtest plus a day of training, or
    nothing positive to score against, there is no backtest: the forecast is seasonal naive."""
    if not math.isclose(history.interval_s, settings.interval_s, rel_tol=GRID_TOLERANCE):
        raise ValueError(
            f"history interval {history.interval_s} s differs from the settings' {settings.interval_s} s: "
            "resample it"
        )
    held_count = min(
        len(history.values), math.floor(settings.backtest_s / history.interval_s + GRID_TOLERANCE)
    )
    train_count = len(history.values) - held_count
    skipped: dict[ForecastMethod, str] = {}
    if held_count == 0 or train_count < season_steps(DAY_S, history.interval_s):
        why = (
            f"Only {_hours(history.duration_s)} of history, less than the {_hours(settings.backtest_s)} "
            "backtest plus a day to train on"
        )
        return _fallback(history, settings, why, skipped)
    train, held_out = history.split(history.time_of(train_count))
    if not any(value > 0 for value in held_out.values if math.isfinite(value)):
        why = (
            f"The last {_hours(settings.backtest_s)} of history hold no positive rate to score a backtest on"
        )
        return _fallback(history, settings, why, skipped)

    scores: dict[ForecastMethod, float] = {}
    for method in settings.methods:
        if method is ForecastMethod.PROPHET and train.duration_s < settings.min_history_s - GRID_TOLERANCE:
            skipped[method] = (
                f"{_hours(train.duration_s)} of training history is under the "
                f"{_hours(settings.min_history_s)} it needs"
            )
            continue
        try:
            score = backtest_mape(method, train, held_out, interval_width=settings.interval_width)
        except Exception as error:  # any failure of one method must not stop the others
            skipped[method] = f"backtest failed ({type(error).__name__}: {error})"
            continue
        if not math.isfinite(score):
            skipped[method] = f"backtest MAPE is {score}"
            continue
        scores[method] = score

    best = min(scores.values(), default=math.inf)
    ranking = sorted(
        scores,
        key=lambda method: (scores[method] - best > TIE_PERCENT, scores[method], SIMPLICITY.index(method)),
    )
    for method in ranking:
        try:
            result = forecast(method, history, settings.horizon_steps, interval_width=settings.interval_width)
        except Exception as error:  # fall through to the next best method
            skipped[method] = f"final fit failed ({type(error).__name__}: {error})"
            continue
        return ForecastChoice(
            method=method,
            forecast=result,
            mape_by_method=scores,
            reason=_reason(method, scores, skipped, settings.backtest_s),
            skipped=skipped,
        )
    why = (
        "No allowed method could be backtested and fitted ("
        + "; ".join(f"{method}: {reason}" for method, reason in skipped.items())
        + ")"
    )
    return _fallback(history, settings, why, skipped)
