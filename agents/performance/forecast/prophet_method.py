"""Prophet: a piecewise-linear trend plus Fourier daily (and weekly) seasonality, fitted by Stan's optimiser.

Prophet and cmdstanpy are imported on first use; their INFO chatter is turned down to warnings then (the
only process-wide change). Prophet draws its uncertainty samples from numpy's global random state, so the
prediction seeds that state for the call and puts the caller's state back afterwards: same inputs, same
forecast. Deprecation warnings Prophet's own pandas calls raise are silenced for the call. pandas, which only
Prophet's frames need, is imported with Prophet: importing the forecasting package stays light."""

import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from agents.performance.forecast.common import DAY_S, check_request, clipped_forecast
from agents.performance.forecast.history import RateHistory
from agents.performance.forecast.model import Forecast, ForecastMethod

UNCERTAINTY_SAMPLES = 200
"""Trend and noise samples behind the prediction interval: enough for stable 5%/95% quantiles, cheap."""
SEED = 0
WEEKLY_MIN_HISTORY_S = 14 * DAY_S
"""Shortest history given a weekly seasonality: two whole weeks, Prophet's own rule. With less, a weekly term
fits one week's accidents: trained on ServeGen's first 10 days it doubles the MAPE on the last 4 (104%
against 53%)."""
QUIET_LOGGERS = ("cmdstanpy", "prophet", "prophet.models", "prophet.forecaster")


def _load_prophet() -> Any:
    """Prophet's model class, imported late (it is slow to load and only this method needs it), with the
    INFO logging of Prophet and cmdstanpy turned down to warnings."""
    # Prophet logs a missing optional plotting library as an error on import: not ours to worry about.
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)
    from cmdstanpy.utils import get_logger
    from prophet import Prophet

    get_logger()  # cmdstanpy sets its logger to DEBUG when first asked for it: let it, then turn it down
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    return Prophet


def _new_model(history: RateHistory, interval_width: float) -> Any:
    return _load_prophet()(
        daily_seasonality=True,
        weekly_seasonality=history.duration_s >= WEEKLY_MIN_HISTORY_S,
        yearly_seasonality=False,
        interval_width=interval_width,
        uncertainty_samples=UNCERTAINTY_SAMPLES,
    )


def _frame(start_s: float, interval_s: float, count: int) -> "pd.DataFrame":
    """Interval midpoints as naive UTC datetimes."""
    import pandas as pd

    times = start_s + (np.arange(count) + 0.5) * interval_s
    return pd.DataFrame({"ds": pd.to_datetime(times, unit="s")})


def prophet_forecast(history: RateHistory, horizon_steps: int, *, interval_width: float = 0.9) -> Forecast:
    """Fit Prophet to the history's observed intervals and forecast `horizon_steps` intervals past its end."""
    values = check_request(history, horizon_steps, interval_width)
    train = _frame(history.start_s, history.interval_s, values.size)
    train["y"] = values
    train = train[np.isfinite(values)]
    if len(train) < 2:
        raise ValueError("Prophet needs at least two observed intervals")
    model = _new_model(history, interval_width)
    future = _frame(history.end_s, history.interval_s, horizon_steps)
    saved = np.random.get_state()
    with warnings.catch_warnings():
        # Prophet's own use of pandas calls that pandas has deprecated: nothing a caller can act on.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet\.")
        model.fit(train, seed=SEED)
        np.random.seed(SEED)
        try:
            predicted = model.predict(future)
        finally:
            np.random.set_state(saved)
    return clipped_forecast(
        ForecastMethod.PROPHET,
        history,
        predicted["yhat"].to_numpy(dtype=np.float64),
        predicted["yhat_lower"].to_numpy(dtype=np.float64),
        predicted["yhat_upper"].to_numpy(dtype=np.float64),
    )
