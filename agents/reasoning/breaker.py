"""A circuit breaker per model tier, so an endpoint that keeps failing stops costing every task a
timeout: after enough failures in a row the rule tier answers straight away, and after a cooldown one
trial call decides whether the endpoint is back."""

from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self, *, failure_threshold: int, cooldown_seconds: float, clock: Callable[[], float]
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self._failure_threshold = failure_threshold
        self._cooldown_seconds = cooldown_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._trial_running or self._clock() - self._opened_at >= self._cooldown_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def try_acquire(self) -> bool:
        """Whether a call may go out now. Half-open lets exactly one trial through until it reports."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._trial_running or self._failures >= self._failure_threshold:
            self._opened_at = self._clock()
        self._trial_running = False
