"""The live Performance agent as a bench policy: at every scan it is handed what the live agent reads (a
workload snapshot with the last day of one-minute windows and the request-rate history on the ten-minute
grid) and runs the live decision, `analyze_replica_scaling`; its proposal is taken as approved at once and
its target count held until the next scan. Nothing of the decision is the bench's own.

The bench replays days of traffic, so the scan's forecast settings are the live defaults less Prophet
(whose fit per scan would take the replay hours); the settings are reported with the figures."""

from __future__ import annotations

import math
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from agents.performance.autoscaler import autoscaler_for
from agents.performance.forecast import ForecastMethod, ForecastSettings
from agents.performance.scaling import ScalingSettings, analyze_replica_scaling
from agents.performance.serving import ServingContext, serving_context
from agents.performance.slo import slo_target
from optiinfra.domain.fleet import Customer, InstanceType, Workload, WorkloadSnapshot
from optiinfra.domain.kube import DeploymentRef, DeploymentState, PodsMetricAutoscaler, PodState
from optiinfra.domain.performance import RequestRateHistory, WorkloadWindow
from optiinfra.domain.recommendation import Proposal
from optiinfra.sim.kube.autoscaling import AutoscalerSpec, autoscaler_spec, controller_step

EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
"""Bench time zero, a Monday at midnight UTC: the trace's days fall on weekdays as they began."""
RATE_GRID_S = 600.0
RECENT_S = 86_400.0
BENCH_FORECAST = ForecastSettings(methods=(ForecastMethod.SEASONAL_NAIVE, ForecastMethod.HOLT_WINTERS))


class Measurement(Protocol):
    """One window as the replicas' metrics show it (the bench's `WindowMeasurement`)."""

    @property
    def end_s(self) -> float: ...
    @property
    def requests(self) -> float: ...
    @property
    def replica_seconds(self) -> float: ...
    @property
    def ttft_p95_s(self) -> float | None: ...
    @property
    def itl_p95_s(self) -> float | None: ...


class LiveAgentPolicy:
    """Scans every `scan_interval_s`, as the live agent's schedule does."""

    name = "agent"

    def __init__(
        self,
        *,
        instance_type: InstanceType,
        model_name: str,
        slo_ttft_p95_s: float,
        slo_itl_p95_s: float,
        mean_prompt_tokens: float,
        mean_output_tokens: float,
        p95_prompt_tokens: float,
        window_s: float,
        initial_replicas: int,
        scan_interval_s: float,
        lead_s: float,
        floor: int,
    ) -> None:
        self._type = instance_type
        self._workload = Workload(
            customer_id="bench",
            workload_id="bench",
            name="bench",
            model_name=model_name,
            region=instance_type.region,
            slo_ttft_p95_s=slo_ttft_p95_s,
            slo_itl_p95_s=slo_itl_p95_s,
            kube_namespace="bench",
            kube_deployment="bench",
        )
        self._prompt, self._output, self._p95 = mean_prompt_tokens, mean_output_tokens, p95_prompt_tokens
        self._window_s = window_s
        self._replicas = initial_replicas
        self._scan_s = scan_interval_s
        self._next_scan = 0.0
        self._settings = ScalingSettings(
            lead_seconds=lead_s, interval_seconds=scan_interval_s, floor=floor, forecast=BENCH_FORECAST
        )
        self._windows: deque[WorkloadWindow] = deque()
        self._grid: list[float] = []
        self._grid_seconds: list[float] = []
        self.scans = 0
        self.proposals = 0
        self.last_reason = ""

    def observe_tick(
        self, end_s: float, requests: float, serving: int, in_flight: float, arrived: float
    ) -> None:
        pass

    def observe_window(self, window: Measurement) -> None:
        start_s = window.end_s - self._window_s
        replicas = round(window.replica_seconds / self._window_s)
        self._windows.append(
            WorkloadWindow(
                start=EPOCH + timedelta(seconds=start_s),
                seconds=self._window_s,
                replicas=replicas,
                requests=window.requests,
                request_rate=window.requests / self._window_s,
                prompt_tokens=window.requests * self._prompt,
                generation_tokens=window.requests * self._output,
                errors=0.0,
                preemptions=0.0,
                ttft_p95=_finite(window.ttft_p95_s),
                itl_p95=_finite(window.itl_p95_s),
                prompt_tokens_p95=self._p95 if window.requests > 0 else None,
            )
        )
        cutoff = EPOCH + timedelta(seconds=window.end_s - RECENT_S)
        while self._windows and self._windows[0].start < cutoff:
            self._windows.popleft()
        slot = int(start_s // RATE_GRID_S)
        while len(self._grid) <= slot:
            self._grid.append(0.0)
            self._grid_seconds.append(0.0)
        self._grid[slot] += window.requests
        self._grid_seconds[slot] += self._window_s

    def decide(self, now_s: float) -> int:
        if now_s + 1e-9 < self._next_scan:
            return self._replicas
        self._next_scan = now_s + self._scan_s
        found = self._scan(now_s)
        self.scans += 1
        if isinstance(found, Proposal):
            self.proposals += 1
            self._replicas = int(found.evidence["target_replicas"])
            self.last_reason = found.title
        else:
            self.last_reason = found
        return self._replicas

    def _scan(self, now_s: float) -> Proposal | str:
        found = self._read(now_s)
        if isinstance(found, str):
            return found
        return analyze_replica_scaling(*found, None, self._settings)

    def _read(self, now_s: float) -> tuple[WorkloadSnapshot, ServingContext] | str:
        """The snapshot the live agent reads at `now_s` and its serving context, or why there is none."""
        snapshot = self._snapshot(now_s)
        target = slo_target(self._workload)
        assert target is not None
        context = serving_context(snapshot, target)
        return context if isinstance(context, str) else (snapshot, context)

    def _snapshot(self, now_s: float) -> WorkloadSnapshot:
        """What the live agent reads at `now_s`: the last day of windows, the rate history, the Deployment."""
        complete = int(now_s // RATE_GRID_S)
        values: list[float | None] = [
            self._grid[i] / self._grid_seconds[i] if self._grid_seconds[i] > 0 else None
            for i in range(min(complete, len(self._grid)))
        ]
        history = RequestRateHistory(start=EPOCH, interval_seconds=RATE_GRID_S, values=values)
        return WorkloadSnapshot(
            customer=Customer(customer_id="bench", name="bench"),
            workload=self._workload,
            instances=[],
            instance_types={self._type.name: self._type},
            candidate_types=[self._type],
            series=[],
            collected_at=EPOCH + timedelta(seconds=now_s),
            deployment=self._deployment(),
            windows=list(self._windows),
            request_rate=history,
        )

    def _deployment(self) -> DeploymentState:
        pods = [
            PodState(name=f"bench-{index}", ready=True, serving=True, phase="Running")
            for index in range(self._replicas)
        ]
        return DeploymentState(
            ref=DeploymentRef(namespace="bench", name="bench"),
            replicas=self._replicas,
            ready_replicas=self._replicas,
            container="vllm",
            args=["--model", self._workload.model_name],
            gpus_per_replica=self._type.gpu_count,
            node_instance_type=self._type.name,
            pods=pods,
        )


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class LiveAgentAutoscalerPolicy(LiveAgentPolicy):
    """The live Performance agent with its Kubernetes autoscaler: every scan sizes the autoscaler with the
    live `autoscaler_for` (floor from the forecast, target from the capacity layer), and every tick the
    HorizontalPodAutoscaler's own arithmetic (`sim.kube.autoscaling`, as the twin's cluster runs it)
    moves the count on the requests in flight per pod.

    The bench's in-flight reading counts waiting requests and the backlog too, where the deployed autoscaler
    reads vLLM's running requests; the KPA policies read the same signal as this one."""

    name = "agent_hpa"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._settings = self._settings.model_copy(update={"reactive_autoscaler": True})
        self._autoscaler: PodsMetricAutoscaler | None = None
        self._spec: AutoscalerSpec | None = None
        self._history: list[tuple[float, int]] = []
        self._last: tuple[float, int] = (0.0, 0)
        self.targets: list[float] = []

    def observe_tick(
        self, end_s: float, requests: float, serving: int, in_flight: float, arrived: float
    ) -> None:
        self._last = (in_flight, serving)

    def decide(self, now_s: float) -> int:
        if now_s + 1e-9 >= self._next_scan:
            self._next_scan = now_s + self._scan_s
            self.scans += 1
            found = self._size(now_s)
            if isinstance(found, PodsMetricAutoscaler):
                self.proposals += int(found != self._autoscaler)
                self._autoscaler = found
                self._spec = autoscaler_spec(found.manifest())
                self.targets.append(found.target_per_pod)
                self.last_reason = found.describe()
            else:
                self.last_reason = found
        if self._spec is None:
            return self._replicas
        in_flight, serving = self._last
        values = [in_flight / serving] * serving if serving > 0 else []
        self._replicas = controller_step(self._spec, self._replicas, [values], self._history, now_s)
        return self._replicas

    def _size(self, now_s: float) -> PodsMetricAutoscaler | str:
        found = self._read(now_s)
        if isinstance(found, str):
            return found
        return autoscaler_for(*found, self._settings)
