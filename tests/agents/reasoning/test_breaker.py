"""The circuit breaker's states, driven by a manual clock."""

import pytest

from agents.reasoning.breaker import BreakerState, CircuitBreaker


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """Read afresh each time (a property mypy would otherwise narrow between asserts)."""
    return breaker.state


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=3, cooldown_seconds=10.0, clock=clock)


def test_opens_after_threshold_consecutive_failures(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        assert breaker.try_acquire()
        breaker.record_failure()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.try_acquire()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
    assert not breaker.try_acquire()


def test_success_resets_the_count(breaker: CircuitBreaker) -> None:
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert state_of(breaker) is BreakerState.CLOSED


def test_half_open_after_cooldown_lets_one_trial_through(breaker: CircuitBreaker, clock: ManualClock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now = 9.9
    assert not breaker.try_acquire()
    clock.now = 10.0
    assert state_of(breaker) is BreakerState.HALF_OPEN
    assert breaker.try_acquire()
    assert not breaker.try_acquire()  # the trial is still running
    breaker.record_success()
    assert state_of(breaker) is BreakerState.CLOSED
    assert breaker.try_acquire()


def test_a_failed_trial_opens_again_for_a_full_cooldown(breaker: CircuitBreaker, clock: ManualClock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now = 10.0
    assert breaker.try_acquire()
    breaker.record_failure()
    assert state_of(breaker) is BreakerState.OPEN
    clock.now = 19.9
    assert not breaker.try_acquire()
    clock.now = 20.0
    assert breaker.try_acquire()


def test_threshold_must_be_positive(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CircuitBreaker(failure_threshold=0, cooldown_seconds=1.0, clock=clock)
