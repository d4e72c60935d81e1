"""What a workload asks of its fleet over a day: the forecast peak request rate per hour of day (UTC), the
request shape and SLO that turn a rate into replicas, and the rules every plan for it must keep (headroom,
spot eligibility, the capacity that must survive a spot reclaim, whether a reservation may be bought).

Plans are made for a typical day because the fleet's commitments (reservations) and its schedule
(autoscaling by hour) repeat daily; the profile takes a high quantile per hour rather than the mean so the
plan is sized for the busy days of the observed history, not the average one."""

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents.cost.commitments import CommitmentPolicy
from agents.cost.rightsizing import RightSizingParams
from agents.cost.sizing import RequestShape
from agents.cost.spot import SpotMigrationParams
from optiinfra.domain.fleet import Workload
from optiinfra.domain.rates import RateWindow

HOURS_PER_DAY = 24
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = HOURS_PER_DAY * SECONDS_PER_HOUR
DEFAULT_PROFILE_QUANTILE = 0.95
"""A window rate exceeded in one window out of twenty at that hour of day: the busy days, not the freak
minute that headroom and the SLO's own percentile absorb."""
DEFAULT_NEIGHBOUR_HOURS = 2
"""Hours either side pooled into an hour's quantile. The daily cycle does not keep its hour: in ServeGen's
production trace the morning dip of one week sits two hours later the next. Planned on week 1, an hour's
own windows leave 36 of week 2's 1,008 windows above forecast plus headroom, pooling two hours either side 8,
for a forecast only 3% higher on average."""


class WorkloadDemand(BaseModel):
    """One workload's demand and the rules a plan for it must keep; the same object feeds the naive plan,
    the optimum and the check of any plan (the live agent's included) against those rules."""

    model_config = ConfigDict(frozen=True)

    workload: Workload
    shape: RequestShape
    hourly_rps: tuple[float, ...] = Field(
        description="Forecast peak request rate per hour of day (UTC), 24 entries"
    )
    headroom: float = Field(default=RightSizingParams().headroom, ge=0.0)
    max_interruption_bucket: int = Field(default=SpotMigrationParams().max_interruption_bucket, ge=0, le=4)
    spot_zones: int = Field(
        default=1,
        ge=1,
        description="Availability Zones the replicas spread over: one zone's spot replicas of a type are a "
        "pool that can be reclaimed at once",
    )
    reservations_allowed: bool = Field(
        default=False, description="Enough steady history to commit to a term (see `reservations_allowed`)"
    )

    @field_validator("hourly_rps")
    @classmethod
    def _one_rate_per_hour(cls, rates: tuple[float, ...]) -> tuple[float, ...]:
        if len(rates) != HOURS_PER_DAY:
            raise ValueError(f"hourly_rps needs {HOURS_PER_DAY} rates, one per hour of day; got {len(rates)}")
        if not all(math.isfinite(rate) and rate >= 0 for rate in rates):
            raise ValueError("hourly rates must be finite and non-negative")
        return rates

    @property
    def spot_allowed(self) -> bool:
        """Spot migration's workload rule: a reclaim must lose no state. A critical workload may run spot
        too, since the surviving capacity rule (`surviving_rps`) keeps its forecast served through a
        reclaim."""
        return self.workload.stateless

    def surviving_rps(self, hour: int) -> float:
        """The capacity the fleet must keep after losing its largest spot pool (one type's spot replicas
        of one zone), until they are replaced: the forecast without headroom, as the spot strategy sizes
        its on-demand base."""
        return self.hourly_rps[hour]

    @property
    def peak_rps(self) -> float:
        return max(self.hourly_rps)

    def required_rps(self, hour: int) -> float:
        """The capacity (under the SLO) the fleet must have in this hour: the forecast plus headroom."""
        return self.hourly_rps[hour] * (1.0 + self.headroom)


def reservations_allowed(history_days: float, policy: CommitmentPolicy) -> bool:
    """A term is only committed on a baseline seen for long enough that it is not a passing phase."""
    return history_days >= policy.min_history_days


def hourly_profile(
    windows: Sequence[RateWindow],
    quantile: float = DEFAULT_PROFILE_QUANTILE,
    neighbour_hours: int = DEFAULT_NEIGHBOUR_HOURS,
) -> tuple[float, ...]:
    """Per hour of day (UTC; window starts are seconds from midnight of day 0, as in ServeGen), the
    nearest-rank `quantile` of the rates of the windows starting in that hour or within `neighbour_hours`
    hours of it."""
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must be in (0, 1], got {quantile}")
    if not 0 <= neighbour_hours < HOURS_PER_DAY // 2:
        raise ValueError(f"neighbour_hours must be in [0, {HOURS_PER_DAY // 2}), got {neighbour_hours}")
    by_hour: list[list[float]] = [[] for _ in range(HOURS_PER_DAY)]
    for window in windows:
        hour = int((window.start_s % SECONDS_PER_DAY) // SECONDS_PER_HOUR) % HOURS_PER_DAY
        by_hour[hour].append(window.rate_rps)
    missing = [hour for hour, rates in enumerate(by_hour) if not rates]
    if missing:
        raise ValueError(f"no traffic windows start in hour(s) {missing} of the day: need at least one day")
    profile = []
    for hour in range(HOURS_PER_DAY):
        pooled = [
            rate
            for offset in range(-neighbour_hours, neighbour_hours + 1)
            for rate in by_hour[(hour + offset) % HOURS_PER_DAY]
        ]
        profile.append(_nearest_rank(sorted(pooled), quantile))
    return tuple(profile)


def _nearest_rank(ordered: Sequence[float], quantile: float) -> float:
    return ordered[max(1, math.ceil(quantile * len(ordered))) - 1]
