"""The twin's HorizontalPodAutoscaler (autoscaling/v2): validation of the object and the controller's
arithmetic, kept apart from the cluster's storage.

What the twin supports, as a cluster with a Prometheus adapter (or KEDA) serving vLLM's gauges as
per-pod custom metrics would:
- `scaleTargetRef` a Deployment (apps/v1); `minReplicas` (default 1) up to `maxReplicas`;
- metrics of `type: Pods` with an `AverageValue` target (a Kubernetes quantity: "4", "1500m");
- `behavior.scaleUp` / `behavior.scaleDown` `stabilizationWindowSeconds` (defaults 0 and 300).

The controller follows the upstream algorithm: the desired count is ceil(ready pods x mean metric /
target), unchanged within a 10% tolerance of the target; with several metrics the largest wins; the
recommendation is clamped to the bounds; scaling down takes the highest recommendation of the
stabilization window and scaling up the lowest, so a brief dip or spike does not move the Deployment.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optiinfra.domain.kube import parse_kube_quantity

TOLERANCE = 0.1
"""The controller leaves the count alone while the metric is within 10% of its target (upstream's
`--horizontal-pod-autoscaler-tolerance`)."""

DEFAULT_SCALE_DOWN_WINDOW_S = 300.0
DEFAULT_SCALE_UP_WINDOW_S = 0.0


@dataclass(frozen=True)
class PodsMetricTarget:
    """One `type: Pods` metric and the average per pod the autoscaler holds it at."""

    name: str
    average_value: float


@dataclass(frozen=True)
class AutoscalerSpec:
    """The parts of an autoscaling/v2 HorizontalPodAutoscaler spec the controller acts on."""

    deployment: str
    min_replicas: int
    max_replicas: int
    metrics: tuple[PodsMetricTarget, ...]
    scale_up_window_s: float
    scale_down_window_s: float


def autoscaler_problems(body: Mapping[str, Any]) -> list[str]:
    """What makes `body` an invalid HorizontalPodAutoscaler, as the API server words it (empty: valid)."""
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return ["spec: Required value"]
    problems: list[str] = []
    target = spec.get("scaleTargetRef")
    if not isinstance(target, Mapping) or not target.get("name"):
        problems.append("spec.scaleTargetRef.name: Required value")
    elif target.get("kind") != "Deployment":
        problems.append(
            f"spec.scaleTargetRef.kind: Unsupported value: {target.get('kind')!r}: "
            "the twin scales Deployments"
        )
    minimum = spec.get("minReplicas", 1)
    maximum = spec.get("maxReplicas")
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 1:
        problems.append(f"spec.minReplicas: Invalid value: {minimum!r}: must be greater than or equal to 1")
    if not isinstance(maximum, int) or isinstance(maximum, bool):
        problems.append("spec.maxReplicas: Required value")
    elif isinstance(minimum, int) and maximum < minimum:
        problems.append(
            f"spec.maxReplicas: Invalid value: {maximum}: must be greater than or equal to `minReplicas`"
        )
    metrics = spec.get("metrics")
    if not isinstance(metrics, Sequence) or isinstance(metrics, str) or not metrics:
        problems.append("spec.metrics: Required value: the twin needs at least one Pods metric")
    else:
        for index, metric in enumerate(metrics):
            problems.extend(_metric_problems(index, metric))
    behavior = spec.get("behavior") or {}
    for direction in ("scaleUp", "scaleDown"):
        window = (behavior.get(direction) or {}).get("stabilizationWindowSeconds")
        if window is not None and (
            not isinstance(window, int) or isinstance(window, bool) or not 0 <= window <= 3600
        ):
            problems.append(
                f"spec.behavior.{direction}.stabilizationWindowSeconds: Invalid value: {window!r}: "
                "must be between 0 and 3600"
            )
    return problems


def _metric_problems(index: int, metric: Any) -> list[str]:
    where = f"spec.metrics[{index}]"
    if not isinstance(metric, Mapping) or metric.get("type") != "Pods":
        kind = metric.get("type") if isinstance(metric, Mapping) else metric
        return [f"{where}.type: Unsupported value: {kind!r}: the twin serves Pods metrics"]
    pods = metric.get("pods") or {}
    name = (pods.get("metric") or {}).get("name")
    target = pods.get("target") or {}
    problems = [] if name else [f"{where}.pods.metric.name: Required value"]
    if target.get("type") != "AverageValue":
        problems.append(f"{where}.pods.target.type: Unsupported value: {target.get('type')!r}")
    try:
        if parse_kube_quantity(target.get("averageValue")) <= 0:
            problems.append(f"{where}.pods.target.averageValue: Invalid value: must be positive")
    except ValueError:
        problems.append(f"{where}.pods.target.averageValue: Invalid value: {target.get('averageValue')!r}")
    return problems


def autoscaler_spec(body: Mapping[str, Any]) -> AutoscalerSpec:
    """The spec of a valid HorizontalPodAutoscaler (see `autoscaler_problems`)."""
    spec = body["spec"]
    behavior = spec.get("behavior") or {}
    up = (behavior.get("scaleUp") or {}).get("stabilizationWindowSeconds")
    down = (behavior.get("scaleDown") or {}).get("stabilizationWindowSeconds")
    return AutoscalerSpec(
        deployment=str(spec["scaleTargetRef"]["name"]),
        min_replicas=int(spec.get("minReplicas", 1)),
        max_replicas=int(spec["maxReplicas"]),
        metrics=tuple(
            PodsMetricTarget(
                str(metric["pods"]["metric"]["name"]),
                parse_kube_quantity(metric["pods"]["target"]["averageValue"]),
            )
            for metric in spec["metrics"]
        ),
        scale_up_window_s=float(up) if up is not None else DEFAULT_SCALE_UP_WINDOW_S,
        scale_down_window_s=float(down) if down is not None else DEFAULT_SCALE_DOWN_WINDOW_S,
    )


def metric_recommendation(current: int, values: Sequence[float], target: float) -> int:
    """Replicas one metric asks for: ceil(pods x mean / target), or `current` within the tolerance or
    without a reading."""
    if not values or current < 1:
        return current
    ratio = (sum(values) / len(values)) / target
    if abs(ratio - 1.0) <= TOLERANCE:
        return current
    return math.ceil(ratio * len(values))


def stabilized(
    recommendation: int,
    current: int,
    history: Sequence[tuple[float, int]],
    now: float,
    spec: AutoscalerSpec,
) -> int:
    """The count to act on given earlier recommendations (time, count), newest last: a scale-down takes
    the highest recommendation of its window, a scale-up the lowest of its own."""
    if recommendation < current:
        window = [count for at, count in history if now - at < spec.scale_down_window_s]
        return min(current, max([recommendation, *window]))
    if recommendation > current:
        window = [count for at, count in history if now - at < spec.scale_up_window_s]
        return max(current, min([recommendation, *window]))
    return current


def controller_step(
    spec: AutoscalerSpec,
    current: int,
    readings: Sequence[Sequence[float]],
    history: list[tuple[float, int]],
    now: float,
) -> int:
    """One sync of an autoscaler: the largest of its metrics' recommendations (`readings`, one list of
    per-pod values per metric, in `spec.metrics` order) within the bounds, stabilized against `history`,
    which it then prunes to the longer window and extends with this recommendation."""
    asked = max(
        metric_recommendation(current, values, metric.average_value)
        for metric, values in zip(spec.metrics, readings, strict=True)
    )
    bounded = min(spec.max_replicas, max(spec.min_replicas, asked))
    decided = stabilized(bounded, current, history, now, spec)
    keep = max(spec.scale_up_window_s, spec.scale_down_window_s)
    history[:] = [(at, count) for at, count in history if now - at < keep]
    history.append((now, bounded))
    return decided
