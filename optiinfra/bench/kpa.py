"""A reactive autoscaler: the Knative-style Pod Autoscaler (KPA) as AIBrix publicly describes it.

This is the baseline the predictive policy is measured against. It follows the publicly described KPA
parameters and rules:

- a per-pod target value of the scaling metric (here: in-flight requests per pod);
- a stable window of 180 s and a panic window of 60 s, over each of which the metric is averaged;
- a panic threshold of 2.0: panic mode starts when the panic window's desired pods reach 2.0x the ready
  pods, and lasts until that has not been the case for a whole stable window; in panic mode the panic
  window's recommendation is used and the scale never goes down;
- a tolerance of 0.1: no change while the desired scale is within 10% of the current one;
- a maximum scale-up rate of 2.0 (at most twice the ready pods per decision) and a maximum scale-down rate
  of 2.0 (at least half of them);
- a scale-down delay of 300 s: the scale only goes down to the largest recommendation of the last 300 s.

It is pure: it is fed one observation per tick and keeps its own history, so a simulation and a live
controller drive it the same way.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class KpaSettings:
    """The KPA's knobs, defaulting to the publicly described values."""

    target_per_pod: float
    """Metric value one pod should carry (e.g. in-flight requests per pod)."""
    stable_window_s: float = 180.0
    panic_window_s: float = 60.0
    panic_threshold: float = 2.0
    tolerance: float = 0.1
    max_scale_up_rate: float = 2.0
    max_scale_down_rate: float = 2.0
    scale_down_delay_s: float = 300.0
    min_replicas: int = 1
    max_replicas: int | None = None

    def __post_init__(self) -> None:
        if not self.target_per_pod > 0:
            raise ValueError(f"target_per_pod must be positive, got {self.target_per_pod}")
        if not 0 < self.panic_window_s <= self.stable_window_s:
            raise ValueError("the panic window must be positive and no longer than the stable window")
        if self.panic_threshold <= 1 or self.max_scale_up_rate <= 1 or self.max_scale_down_rate <= 1:
            raise ValueError("panic threshold and scale rates must exceed 1")
        if not 0 <= self.tolerance < 1 or self.scale_down_delay_s < 0:
            raise ValueError("tolerance must be in [0, 1) and the scale-down delay non-negative")
        if self.min_replicas < 0 or (self.max_replicas is not None and self.max_replicas < self.min_replicas):
            raise ValueError("need 0 <= min_replicas <= max_replicas")


class KpaAutoscaler:
    """Stateful KPA decider: `decide(t_s, metric_total, ready_pods)` once per tick returns desired pods.

    `metric_total` is the scaling metric summed over the ready pods at `t_s` (e.g. all in-flight requests);
    ticks must come in non-decreasing time order."""

    def __init__(self, settings: KpaSettings, initial_replicas: int) -> None:
        self.settings = settings
        self._samples: deque[tuple[float, float]] = deque()
        self._recommendations: deque[tuple[float, int]] = deque()
        self._panic_time: float | None = None
        self._max_panic_pods = 0
        self._current = self._clamp(initial_replicas)

    @property
    def in_panic(self) -> bool:
        return self._panic_time is not None

    @property
    def current(self) -> int:
        """The scale last decided."""
        return self._current

    def decide(self, t_s: float, metric_total: float, ready_pods: int) -> int:
        """Record the metric at `t_s` and return the desired scale."""
        s = self.settings
        self._samples.append((t_s, max(metric_total, 0.0)))
        while self._samples and self._samples[0][0] <= t_s - s.stable_window_s:
            self._samples.popleft()
        stable = self._average(t_s - s.stable_window_s)
        panic = self._average(t_s - s.panic_window_s)
        ready = max(ready_pods, 1)
        # Rate limits bound both recommendations, relative to the pods that are ready now.
        up_limit = math.ceil(s.max_scale_up_rate * ready)
        down_limit = math.floor(ready / s.max_scale_down_rate)
        wanted_stable = math.ceil(stable / s.target_per_pod - 1e-9)
        wanted_panic = math.ceil(panic / s.target_per_pod - 1e-9)
        desired_stable = min(max(wanted_stable, down_limit), up_limit)
        desired_panic = min(max(wanted_panic, down_limit), up_limit)

        if wanted_panic / ready >= s.panic_threshold:
            # Enter panic, or extend it while the short window stays over the threshold.
            self._panic_time = t_s
        elif self._panic_time is not None and t_s - self._panic_time >= s.stable_window_s:
            # The surge has been in the stable window for a whole window: back to the stable average.
            self._panic_time = None
            self._max_panic_pods = 0

        if self._panic_time is not None:
            # Panic: follow the short window, and never scale down while it lasts.
            self._max_panic_pods = max(self._max_panic_pods, desired_panic, self._current)
            desired = self._max_panic_pods
        else:
            desired = desired_stable

        # Scale-down delay: go down only to the largest recommendation of the last `scale_down_delay_s`.
        self._recommendations.append((t_s, desired))
        while self._recommendations and self._recommendations[0][0] < t_s - s.scale_down_delay_s:
            self._recommendations.popleft()
        desired = max(count for _, count in self._recommendations)

        if abs(desired - self._current) <= s.tolerance * self._current:
            desired = self._current
        self._current = self._clamp(desired)
        return self._current

    def _average(self, since_s: float) -> float:
        values = [value for t, value in self._samples if t > since_s]
        return sum(values) / len(values) if values else 0.0

    def _clamp(self, replicas: int) -> int:
        s = self.settings
        replicas = max(replicas, s.min_replicas)
        return min(replicas, s.max_replicas) if s.max_replicas is not None else replicas
