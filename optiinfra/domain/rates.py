"""A request-rate series as windows of a mean rate: what forecasts, plans and the twin's traffic share."""

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateWindow:
    """The mean request rate over one window of a rate series."""

    start_s: float
    duration_s: float
    rate_rps: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.start_s):
            raise ValueError(f"window start must be finite, got {self.start_s}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"window duration must be positive, got {self.duration_s}")
        if not (math.isfinite(self.rate_rps) and self.rate_rps >= 0):
            raise ValueError(f"rate must be a non-negative number, got {self.rate_rps}")

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def expected_requests(self) -> float:
        return self.rate_rps * self.duration_s
