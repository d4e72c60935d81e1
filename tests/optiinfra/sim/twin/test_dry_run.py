import math

import pytest

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.rates import RateWindow
from optiinfra.sim.demo_fleet import demo_fleet
from optiinfra.sim.traffic import TrafficGenerator
from optiinfra.sim.twin import DryRunResult, WorkloadTwinSpec, dry_run
from optiinfra.sim.twin.fleet import demo_workload_spec

CATALOG = PriceCatalog.load_default()
DAY_S = 86_400.0


def _spec(workload_id: str) -> WorkloadTwinSpec:
    demo = demo_fleet().deployment(workload_id)
    ids = [f"i-{workload_id}-{index}" for index in range(demo.instance_count)]
    return demo_workload_spec(demo, ids, CATALOG, seed=1)


def _recent_day(spec: WorkloadTwinSpec) -> list[RateWindow]:
    assert isinstance(spec.traffic, TrafficGenerator)
    return spec.traffic.rate_windows(0, DAY_S, 600)


def _heavy_hours(spec: WorkloadTwinSpec) -> list[RateWindow]:
    """The busiest hour of the day: the load a proposal has to absorb."""
    return sorted(_recent_day(spec), key=lambda window: window.rate_rps)[-6:]


def test_a_right_sizing_that_keeps_the_gpu_passes_and_costs_less() -> None:
    spec = _spec("chat-8b")
    windows = _recent_day(spec)
    current = dry_run(spec, [(r[0], "g5.8xlarge") for r in spec.replicas], windows, CATALOG)
    smaller_host = dry_run(spec, [(r[0], "g5.2xlarge") for r in spec.replicas], windows, CATALOG)
    assert current.passes() and smaller_host.passes()
    assert smaller_host.slo_attainment == 1.0 and not smaller_host.oom
    assert smaller_host.p95_ttft_s == pytest.approx(current.p95_ttft_s)  # same GPU, same latency
    assert smaller_host.p95_ttft_s <= spec.slo.ttft_p95_s
    assert smaller_host.gpu_hours == pytest.approx(3 * 24)
    price = CATALOG.get("g5.2xlarge", "us-east-1").on_demand_hourly_usd
    assert smaller_host.cost_usd == pytest.approx(3 * 24 * price)
    assert smaller_host.cost_usd < current.cost_usd / 1.9


def test_halving_gpu_capacity_under_heavy_load_fails() -> None:
    spec = _spec("code-assist")
    heavy = _heavy_hours(spec)
    assert dry_run(spec, [(r[0], "g5.xlarge") for r in spec.replicas], heavy, CATALOG).passes()
    halved = dry_run(spec, [("code-assist-0", "g5.xlarge"), ("code-assist-1", "g5.xlarge")], heavy, CATALOG)
    assert not halved.passes()
    assert halved.slo_attainment == 0.0
    assert math.isinf(halved.p95_ttft_s)
    assert not halved.oom
    assert halved.failure_reason is not None and "g5.xlarge" in halved.failure_reason


def test_a_gpu_the_model_does_not_fit_on_is_an_oom() -> None:
    spec = _spec("batch-summarize")
    result = dry_run(spec, [("batch-summarize-0", "g5.xlarge")], _recent_day(spec)[:6], CATALOG)
    assert result.oom and not result.passes()
    assert result.failure_reason is not None and "weights" in result.failure_reason


def test_no_replicas_serve_nothing_and_idle_windows_pass() -> None:
    spec = _spec("rag-embed")
    idle = [RateWindow(0, 600, 0.0)]
    assert dry_run(spec, [], idle, CATALOG) == DryRunResult(1.0, 0.0, 0.0, 0.0, False, 1, None)
    busy = dry_run(spec, [], _recent_day(spec)[:3], CATALOG)
    assert busy.slo_attainment == 0.0 and busy.failure_reason == "no replicas to serve the traffic"
    with pytest.raises(ValueError, match="at least one window"):
        dry_run(spec, [], [], CATALOG)
