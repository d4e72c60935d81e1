import math

import pytest

from agents.cost.sizing import replica_capacity_rps
from optiinfra.bench.plan import sizing_shape
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import InstanceType, Workload
from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic import default_generator
from optiinfra.sim.twin.fleet import TtftItlSlo, WorkloadTwinSpec
from optiinfra.sim.twin.plan_replay import (
    HourReplicas,
    SpotInterruptions,
    hourly_interruption_rate,
    replay_plan,
)

CATALOG = PriceCatalog.load_default()
REGION = "us-east-1"
HOUR_S = 3600.0
L40S = CATALOG.get("g6e.xlarge", REGION)  # Spot Advisor bucket 4 in the snapshot
L4 = CATALOG.get("g6.xlarge", REGION)


def _spec(windows: list[RateWindow]) -> WorkloadTwinSpec:
    workload = Workload(
        customer_id="acme", workload_id="chat", name="Chat", model_name="Llama-3.1-8B", region=REGION
    )
    return WorkloadTwinSpec(workload, [], windows, default_generator().token_mix, TtftItlSlo(3.0, 0.1))


def _capacity(spec: WorkloadTwinSpec, instance_type: InstanceType) -> float:
    found = replica_capacity_rps(instance_type, spec.workload.model_name, sizing_shape(spec))
    assert found > 0
    return found


def _day(peak_rps: float, days: int = 1, window_s: float = 600.0) -> list[RateWindow]:
    """A daily cycle between 40% and 100% of `peak_rps`, peaking at 18:00 UTC."""
    steps = round(days * 24 * HOUR_S / window_s)
    return [
        RateWindow(
            n * window_s,
            window_s,
            peak_rps * (0.7 + 0.3 * math.cos(2 * math.pi * ((n * window_s) % 86_400 - 18 * HOUR_S) / 86_400)),
        )
        for n in range(steps)
    ]


def _by_hour(windows: list[RateWindow]) -> list[float]:
    peaks = [0.0] * 24
    for window in windows:
        hour = int((window.start_s % 86_400) // HOUR_S)
        peaks[hour] = max(peaks[hour], window.rate_rps)
    return peaks


def test_a_plan_sized_for_each_hour_passes_and_half_of_it_fails() -> None:
    windows = _day(peak_rps=20.0)
    spec = _spec(windows)
    capacity = _capacity(spec, L40S)
    sized = [math.ceil(peak * 1.25 / capacity) for peak in _by_hour(windows)]
    adequate = [(HourReplicas(L40S, capacity, steady=n, spot=0),) for n in sized]
    halved = [(HourReplicas(L40S, capacity, steady=max(1, n // 2), spot=0),) for n in sized]
    passed = replay_plan(spec, adequate, windows, seed=1)
    assert passed.slo_attainment == 1.0 and passed.passes()
    assert passed.worst_ttft_p95_s <= spec.slo.ttft_p95_s
    failed = replay_plan(spec, halved, windows, seed=1)
    assert failed.slo_attainment < 0.99 and not failed.passes()
    assert failed.failure_reason is not None and "g6e.xlarge" in failed.failure_reason


def test_load_is_split_by_capacity_across_types() -> None:
    spec = _spec([])
    big, small = _capacity(spec, L40S), _capacity(spec, L4)
    assert big > 1.5 * small  # an even split would overload the L4
    windows = [RateWindow(hour * HOUR_S, HOUR_S, 0.95 * (big + small)) for hour in range(24)]
    mixed = [(HourReplicas(L40S, big, steady=1, spot=0), HourReplicas(L4, small, steady=1, spot=0))] * 24
    assert replay_plan(_spec(windows), mixed, windows, seed=1).slo_attainment == 1.0


def test_spot_reclaims_cost_windows_when_the_plan_has_no_slack() -> None:
    windows = [RateWindow(hour * HOUR_S, HOUR_S, 0.0) for hour in range(8 * 7 * 24)]
    spec = _spec([])
    capacity = _capacity(spec, L40S)
    busy = [RateWindow(w.start_s, w.duration_s, 19.5 * capacity) for w in windows]
    on_spot = [(HourReplicas(L40S, capacity, steady=0, spot=20),)] * 24
    steady = [(HourReplicas(L40S, capacity, steady=20, spot=0),)] * 24
    reclaimed = replay_plan(spec, on_spot, busy, seed=5, replacement_delay_s=2 * 86_400)
    assert reclaimed.interruptions > 0 and reclaimed.slo_attainment < 1.0
    assert replay_plan(spec, on_spot, busy, seed=5, replacement_delay_s=2 * 86_400) == reclaimed
    assert replay_plan(spec, steady, busy, seed=5).slo_attainment == 1.0
    idle = replay_plan(spec, on_spot, windows, seed=5, replacement_delay_s=2 * 86_400)
    assert idle.slo_attainment == 1.0  # no traffic, nothing to miss


@pytest.mark.parametrize("bucket", [0, 4])
def test_interruptions_are_seeded_and_follow_the_bucket(bucket: int) -> None:
    slots, hours = 300, 2_000

    def draws(seed: int) -> list[bool]:
        interruptions = SpotInterruptions(seed, replacement_delay_s=0.0)
        return [
            interruptions.out(("g6e.xlarge", slot), bucket, hour * HOUR_S, HOUR_S)
            for hour in range(hours)
            for slot in range(slots)
        ]

    first = draws(seed=11)
    assert first == draws(seed=11)
    assert first != draws(seed=12)
    expected = slots * hours * hourly_interruption_rate(bucket)
    assert abs(sum(first) - expected) < 4.5 * math.sqrt(expected)
    assert hourly_interruption_rate(4) / hourly_interruption_rate(0) == pytest.approx(9.0)


def test_a_reclaimed_replica_stays_out_until_its_replacement_serves() -> None:
    interruptions = SpotInterruptions(seed=2, replacement_delay_s=3 * HOUR_S)
    hour = 0
    while not interruptions.out(("x", 0), 4, hour * HOUR_S, HOUR_S):
        hour += 1
    assert interruptions.interruptions == 1
    # Reclaimed within hour `hour`, replaced three hours later: out through the next two hours at least.
    assert interruptions.out(("x", 0), 4, (hour + 1) * HOUR_S, HOUR_S)
    assert interruptions.out(("x", 0), 4, (hour + 2) * HOUR_S, HOUR_S)
    back = not interruptions.out(("x", 0), 4, (hour + 4) * HOUR_S, HOUR_S)
    assert back == (interruptions.interruptions == 1)


def test_a_plan_gives_every_hour_and_no_replicas_serve_no_traffic() -> None:
    windows = _day(peak_rps=2.0)
    spec = _spec(windows)
    with pytest.raises(ValueError, match="24 hours"):
        replay_plan(spec, [()] * 23, windows, seed=1)
    empty = replay_plan(spec, [()] * 24, windows, seed=1)
    assert empty.slo_attainment == 0.0 and math.isinf(empty.worst_ttft_p95_s)
    assert empty.failure_reason == "no replicas serving in some window"
    with pytest.raises(ValueError, match="no interruption bucket"):
        HourReplicas(CATALOG.get("p5.4xlarge", REGION), 1.0, steady=0, spot=1)
