import pytest
from pydantic import ValidationError

from agents.cost.commitments import CommitmentPolicy
from agents.cost.plan import hourly_profile, reservations_allowed
from optiinfra.domain.rates import RateWindow
from tests.agents.cost.plan.fixtures import demand

HOUR_S = 3600.0
DAY_S = 86_400.0


def _week(rate_at: dict[int, list[float]]) -> list[RateWindow]:
    """Ten-minute windows over a week; `rate_at[hour]` gives the rate of each day's six windows in turn."""
    return [
        RateWindow(day * DAY_S + hour * HOUR_S + slot * 600.0, 600.0, rate_at[hour][(day * 6 + slot) % 42])
        for day in range(7)
        for hour in range(24)
        for slot in range(6)
    ]


def test_each_hour_takes_a_high_quantile_of_its_own_windows() -> None:
    rates = {hour: [float(hour * 100 + n) for n in range(42)] for hour in range(24)}
    profile = hourly_profile(_week(rates), quantile=0.95, neighbour_hours=0)
    assert profile == tuple(float(hour * 100 + 39) for hour in range(24))  # rank ceil(0.95 * 42) = 40
    assert hourly_profile(_week(rates), quantile=1.0, neighbour_hours=0)[5] == 541.0


def test_neighbouring_hours_are_pooled_so_a_drifting_peak_is_covered() -> None:
    rates = {hour: [10.0] * 42 for hour in range(24)}
    rates[12] = [10.0] * 35 + [50.0] * 7  # one busy day at noon
    alone = hourly_profile(_week(rates), neighbour_hours=0)
    pooled = hourly_profile(_week(rates), neighbour_hours=1)
    assert alone[11] == 10.0 and alone[12] == 50.0
    assert pooled[10] == 10.0 and pooled[11] == 50.0 and pooled[13] == 50.0 and pooled[14] == 10.0


def test_hours_of_day_come_from_the_window_start_modulo_a_day() -> None:
    late = [RateWindow(3 * DAY_S + hour * HOUR_S, HOUR_S, float(hour)) for hour in range(24)]
    assert hourly_profile(late, neighbour_hours=0) == tuple(float(hour) for hour in range(24))


def test_a_profile_needs_every_hour_and_sane_arguments() -> None:
    half_day = [RateWindow(hour * HOUR_S, HOUR_S, 1.0) for hour in range(12)]
    with pytest.raises(ValueError, match="no traffic windows start in hour"):
        hourly_profile(half_day)
    full = [RateWindow(hour * HOUR_S, HOUR_S, 1.0) for hour in range(24)]
    with pytest.raises(ValueError, match="quantile"):
        hourly_profile(full, quantile=0.0)
    with pytest.raises(ValueError, match="neighbour_hours"):
        hourly_profile(full, neighbour_hours=12)


def test_a_demand_has_one_rate_per_hour_and_knows_its_rules() -> None:
    with pytest.raises(ValidationError, match="24 rates"):
        demand((1.0,) * 23)
    with pytest.raises(ValidationError, match="non-negative"):
        demand((1.0,) * 23 + (-1.0,))
    found = demand(tuple(float(hour) for hour in range(24)), headroom=0.5)
    assert found.peak_rps == 23.0 and found.required_rps(10) == 15.0
    assert found.spot_allowed
    assert found.surviving_rps(10) == 10.0  # the forecast, without headroom
    assert demand((1.0,) * 24, critical=True).spot_allowed  # above what survives a reclaim
    assert not demand((1.0,) * 24, stateless=False).spot_allowed


def test_reservations_need_the_policys_history() -> None:
    policy = CommitmentPolicy(min_history_days=30)
    assert not reservations_allowed(14, policy)
    assert reservations_allowed(30, policy)
