"""The digital twin of a vLLM fleet: simulated time, replicas modelled by the capacity model and feeding
emulated `/metrics` pages, whole workloads driven by traffic, and dry runs of proposed changes."""

from optiinfra.sim.twin.clock import TwinClock
from optiinfra.sim.twin.dry_run import DryRunResult, dry_run
from optiinfra.sim.twin.fleet import (
    DEMO_SLOS,
    FleetTwin,
    MetricsPipeline,
    RateSeries,
    ReplicaPlacement,
    RunSummary,
    TtftItlSlo,
    WindowRecord,
    WorkloadTwinSpec,
    demo_workload_spec,
)
from optiinfra.sim.twin.replica import (
    HostUtilization,
    ReplicaTwin,
    ReplicaWindow,
    model_window,
)

__all__ = [
    "DEMO_SLOS",
    "DryRunResult",
    "FleetTwin",
    "HostUtilization",
    "MetricsPipeline",
    "RateSeries",
    "ReplicaPlacement",
    "ReplicaTwin",
    "ReplicaWindow",
    "RunSummary",
    "TtftItlSlo",
    "TwinClock",
    "WindowRecord",
    "WorkloadTwinSpec",
    "demo_workload_spec",
    "dry_run",
    "model_window",
]
