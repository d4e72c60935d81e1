"""Synthetic rate series with a known answer."""

import numpy as np

from agents.performance.forecast import RateHistory

INTERVAL_S = 600.0
PER_DAY = 144


def history(values: np.ndarray | list[float], start_s: float = 0.0) -> RateHistory:
    return RateHistory(start_s=start_s, interval_s=INTERVAL_S, values=tuple(float(v) for v in values))


def daily_pattern(seed: int) -> np.ndarray:
    """One day of arbitrary positive rates: nothing but repetition predicts it."""
    return np.random.default_rng(seed).uniform(50.0, 300.0, PER_DAY)


def periodic(days: float, seed: int = 3) -> RateHistory:
    return history(np.tile(daily_pattern(seed), int(np.ceil(days)))[: round(days * PER_DAY)])


def sine_with_trend(days: int, noise_rps: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(signal, signal + Gaussian noise): 200 req/s plus 0.02 req/s per interval, a daily swing of +-80."""
    steps = np.arange(days * PER_DAY)
    signal = 200.0 + 0.02 * steps + 80.0 * np.sin(2 * np.pi * steps / PER_DAY)
    return signal, signal + np.random.default_rng(seed).normal(0.0, noise_rps, steps.size)
