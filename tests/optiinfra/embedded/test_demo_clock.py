"""The embedded demo's clocks: its twins replay the same hours of traffic at every start, whatever the wall
clock says (the readings carry the real time); the Kubernetes twin's history is written on the metrics'
10-minute grid, reaches a little past the start, and the live twin holds still until the wall clock gets
there."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.kube import DeploymentRef
from optiinfra.embedded.kube_twin import EmbeddedKube, history_end
from optiinfra.embedded.stack import DEMO_TIME_OF_DAY_S
from optiinfra.kube.deployments import Deployments
from optiinfra.metrics.store import ChdbMetricsStore
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.sim.demo_kube import demo_kube_workloads
from optiinfra.sim.twin.clock import DAY_S, TwinClock, start_of_day

REF = DeploymentRef(namespace="inference", name="assistant")
AHEAD_S = 300.0
WindowRow = tuple[timedelta, float, float | None]


def test_a_clock_ending_at_a_moment_puts_the_traffic_day_where_it_is_pinned() -> None:
    end = datetime(2025, 6, 9, 10, 20, tzinfo=UTC)
    pinned = TwinClock.ending_at(end, 7 * DAY_S, time_of_day_s=21 * 3600.0)
    assert pinned.now == end - timedelta(days=7)
    pinned.advance(7 * DAY_S)
    assert pinned.now == end
    assert pinned.traffic_time_s % DAY_S == 21 * 3600.0
    following = TwinClock.ending_at(end, 7 * DAY_S)
    following.advance(7 * DAY_S)
    assert following.traffic_time_s % DAY_S == 10 * 3600 + 20 * 60


def test_the_history_ends_on_the_grid_at_least_the_given_seconds_past_now() -> None:
    on_the_grid = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    assert history_end(on_the_grid) == on_the_grid
    assert history_end(datetime(2025, 6, 2, 10, 3, 17, 5, tzinfo=UTC)) == datetime(
        2025, 6, 2, 10, 10, tzinfo=UTC
    )
    assert history_end(datetime(2025, 6, 2, 10, 3, 17, tzinfo=UTC), AHEAD_S) == datetime(
        2025, 6, 2, 10, 10, tzinfo=UTC
    )
    assert history_end(datetime(2025, 6, 2, 10, 6, tzinfo=UTC), AHEAD_S) == datetime(
        2025, 6, 2, 10, 20, tzinfo=UTC
    )


async def _history(
    tmp_path: Path, now: datetime, time_of_day_s: float | None
) -> tuple[datetime, list[WindowRow]]:
    """The assistant's windows a one-day Kubernetes twin started at `now` writes, by their start relative to
    the history's end."""
    store = ChdbMetricsStore(tmp_path / f"metrics-{now:%d%H%M%S}-{time_of_day_s}")
    metrics = AsyncMetricsStore(store)
    kube = await EmbeddedKube.start(
        demo_kube_workloads("us-east-1"),
        catalog=PriceCatalog.load_default(),
        metrics=metrics,
        now=now,
        history_days=1,
        ahead_s=AHEAD_S,
        time_of_day_s=time_of_day_s,
    )
    try:
        end = kube.now
        windows = await metrics.read_workload_windows("demo", "assistant", end - timedelta(days=1), end, 600)
        return end, [(w.start - end, w.requests, w.ttft_p95) for w in windows]
    finally:
        kube.stop()
        store.close()


async def test_a_kubernetes_twin_started_at_any_hour_writes_the_same_history_up_to_its_end(
    tmp_path: Path,
) -> None:
    # Recent days (the store keeps raw windows for a while only), at two hours far apart.
    days_ago = start_of_day(datetime.now(UTC)) - timedelta(days=5)
    early = days_ago + timedelta(hours=3, minutes=7, seconds=41)
    late = days_ago + timedelta(days=3, hours=16, minutes=52, seconds=3, milliseconds=250)

    early_end, early_windows = await _history(tmp_path, early, DEMO_TIME_OF_DAY_S)
    late_end, late_windows = await _history(tmp_path, late, DEMO_TIME_OF_DAY_S)

    assert early_end == days_ago + timedelta(hours=3, minutes=20)
    assert late_end == days_ago + timedelta(days=3, hours=17)
    assert len(early_windows) == 144
    assert early_windows == late_windows
    # Following the wall clock instead, the same twin replays other hours of its day.
    assert (await _history(tmp_path, late, None))[1] != late_windows


async def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_the_live_twin_holds_still_following_the_pods_until_the_wall_clock_reaches_it(
    tmp_path: Path,
) -> None:
    store = ChdbMetricsStore(tmp_path / "metrics")
    started = datetime.now(UTC)
    kube = await EmbeddedKube.start(
        demo_kube_workloads("us-east-1"),
        catalog=PriceCatalog.load_default(),
        metrics=AsyncMetricsStore(store),
        now=started,
        history_days=1,
        pod_ready_delay_s=0.0,
        ahead_s=AHEAD_S,
    )
    deployments = Deployments.for_url(kube.url)
    wall = [started]
    live = asyncio.create_task(kube.run_live(0.01, wall=lambda: wall[0]))
    try:
        end = kube.now
        assert end >= started + timedelta(seconds=AHEAD_S)
        await deployments.scale(REF, 6)
        await _wait_for(lambda: len(kube.replicas("assistant")) == 6)
        assert kube.now == end, "no time passes while the twin is ahead of the wall clock"

        wall[0] = end + timedelta(seconds=1)
        await _wait_for(lambda: kube.now > end)
    finally:
        live.cancel()
        await asyncio.gather(live, return_exceptions=True)
        await deployments.close()
        kube.stop()
        store.close()
