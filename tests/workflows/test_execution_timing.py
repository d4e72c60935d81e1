"""The durations a run derives from its timing: an activity's worst case and the lease a run states for its
workload's lock, which bounds how long another run waits for it."""

from workflows.contracts import RETRY_MAX_INTERVAL_SECONDS, ExecutionTiming


def test_an_activity_budget_is_every_attempt_timing_out_with_the_longest_backoff_between() -> None:
    timing = ExecutionTiming(activity_timeout_seconds=600, activity_max_attempts=5)
    assert timing.activity_budget_seconds == 5 * 600 + 4 * RETRY_MAX_INTERVAL_SECONDS


def test_the_lease_covers_the_steps_their_compensations_the_verify_delay_and_the_watch() -> None:
    timing = ExecutionTiming(
        activity_timeout_seconds=60,
        activity_max_attempts=2,
        verify_delay_seconds=7200,
        regression_watch_seconds=3600,
    )
    budget = 2 * 60 + RETRY_MAX_INTERVAL_SECONDS
    # Three steps, three compensations, the baseline and the verification; then 2 h settling and 1 h watching.
    assert timing.lock_lease_seconds(3) == 8 * budget + 7200 + 3600
    assert timing.lock_lease_seconds(1) < timing.lock_lease_seconds(3)
    # With the defaults a waiting run no longer gives up before a holder can have verified and watched.
    default = ExecutionTiming()
    assert default.lock_wait_seconds is None
    assert default.lock_lease_seconds(1) > default.verify_delay_seconds + default.regression_watch_seconds
