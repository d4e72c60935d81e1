from datetime import UTC, datetime, timedelta, timezone

import pytest

from optiinfra.sim.twin.clock import TwinClock, start_of_day


def test_advancing_moves_simulated_time_without_waiting() -> None:
    clock = TwinClock(datetime(2025, 6, 2, tzinfo=UTC))
    assert clock.now == datetime(2025, 6, 2, tzinfo=UTC)
    assert clock.advance(14 * 86_400) == datetime(2025, 6, 16, tzinfo=UTC)
    assert clock.now_s == 14 * 86_400
    assert clock.epoch_s == datetime(2025, 6, 16, tzinfo=UTC).timestamp()


def test_a_clock_can_start_part_way_and_naive_times_are_utc() -> None:
    clock = TwinClock(datetime(2025, 6, 2, 6, 30), now_s=90)
    assert clock.now == datetime(2025, 6, 2, 6, 31, 30, tzinfo=UTC)


def test_the_traffic_axis_counts_from_midnight_utc_of_the_start_day() -> None:
    east = timezone(timedelta(hours=2))
    clock = TwinClock(datetime(2025, 6, 2, 8, 0, tzinfo=east), now_s=60)
    assert clock.time_of_day_origin_s == 6 * 3600
    assert clock.traffic_time_s == 6 * 3600 + 60


def test_time_never_runs_backwards() -> None:
    clock = TwinClock(datetime(2025, 6, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="negative"):
        TwinClock(datetime(2025, 6, 2, tzinfo=UTC), now_s=-5)


def test_start_of_day_is_midnight_utc() -> None:
    assert start_of_day(datetime(2025, 6, 2, 23, 59, tzinfo=UTC)) == datetime(2025, 6, 2, tzinfo=UTC)
