"""Dry run of a proposed change before it is executed: replay a workload's recent traffic against the
proposed replicas through the capacity model and say whether the SLO would still hold, and at what cost.

No metrics are fed and no clock moves: each window is modelled on its own (`model_window`), with the
window's rate split evenly over the proposed replicas, exactly as the fleet twin would load them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from optiinfra.capacity import ServingConfig, config_for_instance
from optiinfra.capacity.models import capacity_model_for
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import InstanceType
from optiinfra.domain.rates import RateWindow
from optiinfra.sim.twin.fleet import WorkloadTwinSpec
from optiinfra.sim.twin.replica import model_window

SECONDS_PER_HOUR = 3600.0
DEFAULT_MIN_SLO_ATTAINMENT = 0.99


@dataclass(frozen=True)
class DryRunResult:
    """How the proposed replicas would have served the replayed windows.

    `slo_attainment` is the share of windows in which every replica met the SLO; `p95_ttft_s` the worst
    replica's p95 TTFT in the worst window with traffic (infinite when some window saturates);
    `gpu_hours` and `cost_usd` (on-demand prices) cover the replayed span; `oom` says the model does not fit
    on some proposed instance type, with the capacity model's reason in `failure_reason`."""

    slo_attainment: float
    p95_ttft_s: float
    gpu_hours: float
    cost_usd: float
    oom: bool
    windows: int
    failure_reason: str | None = None

    def passes(self, min_slo_attainment: float = DEFAULT_MIN_SLO_ATTAINMENT) -> bool:
        """Safe to execute: the model fits and the SLO holds in at least this share of windows."""
        return not self.oom and self.slo_attainment >= min_slo_attainment


def dry_run(
    spec: WorkloadTwinSpec,
    proposed_replicas: Sequence[tuple[str, str]],
    windows: Sequence[RateWindow],
    catalog: PriceCatalog,
) -> DryRunResult:
    """Replay `windows` (recent traffic of the workload) against `proposed_replicas`, given as
    (replica_id, instance_type) pairs, with the workload's token mix and SLO."""
    if not windows:
        raise ValueError("a dry run needs at least one window of traffic")
    model = capacity_model_for(spec.workload.model_name)
    placed: list[tuple[InstanceType, ServingConfig]] = []
    for _, type_name in proposed_replicas:
        instance_type = catalog.get(type_name, spec.workload.region)
        placed.append((instance_type, config_for_instance(instance_type, model)))
    met = 0
    worst_ttft = 0.0
    gpu_hours = cost_usd = 0.0
    oom = False
    failure_reason: str | None = None
    for window in windows:
        hours = window.duration_s / SECONDS_PER_HOUR
        gpu_hours += hours * sum(instance_type.gpu_count for instance_type, _ in placed)
        cost_usd += hours * sum(instance_type.on_demand_hourly_usd for instance_type, _ in placed)
        if window.rate_rps <= 0:
            met += 1
            continue
        if not placed:
            worst_ttft = math.inf
            failure_reason = failure_reason or "no replicas to serve the traffic"
            continue
        load = spec.replica_load(window.rate_rps / len(placed))
        window_met = True
        for instance_type, config in placed:
            modelled = model_window(config, instance_type, load, window.duration_s)
            performance = modelled.performance
            oom = oom or performance.oom
            if performance.reason is not None and failure_reason is None:
                failure_reason = f"{instance_type.name}: {performance.reason}"
            worst_ttft = max(worst_ttft, performance.ttft_p95_s)
            window_met = window_met and modelled.meets(spec.slo.ttft_p95_s, spec.slo.itl_p95_s)
        met += window_met
    return DryRunResult(
        slo_attainment=met / len(windows),
        p95_ttft_s=worst_ttft,
        gpu_hours=gpu_hours,
        cost_usd=cost_usd,
        oom=oom,
        windows=len(windows),
        failure_reason=failure_reason,
    )
