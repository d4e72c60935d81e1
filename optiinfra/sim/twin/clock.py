"""Simulated time for the fleet twin. Nothing sleeps: advancing the clock is instant, so days of traffic
replay in seconds and every reading the twin writes carries the simulated time, not the wall time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DAY_S = 86_400.0


class TwinClock:
    """Seconds elapsed since `start`, and the datetime they stand for. Naive datetimes are taken as UTC.

    `time_of_day_s` sets where the traffic's day stands at `start` (seconds after its midnight) instead of
    `start`'s own UTC time of day: a twin that must replay the same hours of traffic whenever it is started
    (the embedded demo) pins it, so its readings carry the real time but its traffic does not follow it."""

    def __init__(self, start: datetime, now_s: float = 0.0, *, time_of_day_s: float | None = None) -> None:
        if now_s < 0:
            raise ValueError(f"now_s cannot be negative, got {now_s}")
        if time_of_day_s is not None and not 0 <= time_of_day_s < DAY_S:
            raise ValueError(f"time_of_day_s must be within one day, got {time_of_day_s}")
        self._start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
        self._now_s = float(now_s)
        self._time_of_day_s = time_of_day_s

    @property
    def start(self) -> datetime:
        return self._start

    @property
    def now_s(self) -> float:
        """Simulated seconds since `start`."""
        return self._now_s

    @property
    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._now_s)

    @property
    def epoch_s(self) -> float:
        """`now` as a Unix timestamp, for metric states that stamp their own start time."""
        return self.now.timestamp()

    @property
    def time_of_day_origin_s(self) -> float:
        """Seconds from midnight UTC of the start day to `start` (or the pinned `time_of_day_s`).

        Traffic series count from midnight of day 0 (ServeGen's convention); adding this offset to `now_s`
        puts their daily peaks at the right UTC hour whatever time of day the twin starts."""
        if self._time_of_day_s is not None:
            return self._time_of_day_s
        midnight = self._start.replace(hour=0, minute=0, second=0, microsecond=0)
        return (self._start - midnight).total_seconds()

    @property
    def traffic_time_s(self) -> float:
        """Now on the traffic axis: seconds since midnight UTC of the start day."""
        return self.time_of_day_origin_s + self._now_s

    def advance(self, seconds: float) -> datetime:
        """Move simulated time forward and return the new `now`."""
        if not seconds >= 0:
            raise ValueError(f"the clock only moves forward, got {seconds}")
        self._now_s += seconds
        return self.now

    def __repr__(self) -> str:
        pinned = "" if self._time_of_day_s is None else f", time_of_day_s={self._time_of_day_s:g}"
        return f"TwinClock(start={self._start.isoformat()}, now_s={self._now_s:g}{pinned})"

    @classmethod
    def ending_at(cls, end: datetime, duration_s: float, *, time_of_day_s: float | None = None) -> TwinClock:
        """A clock to run `duration_s` of history that ends at `end`, where (with `time_of_day_s`) the
        traffic's day then stands at `time_of_day_s`: the same hours of traffic lead up to `end` whatever
        `end` is."""
        start = end - timedelta(seconds=duration_s)
        origin = None if time_of_day_s is None else (time_of_day_s - duration_s) % DAY_S
        return cls(start, time_of_day_s=origin)


def start_of_day(moment: datetime) -> datetime:
    """Midnight UTC of the day `moment` falls on (naive taken as UTC): a tidy default start for a twin."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
