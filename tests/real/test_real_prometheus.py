"""OptiInfra's Prometheus path (`OPTIINFRA_PROMETHEUS_URL`) against a real Prometheus that scrapes a real
vLLM and one of the twin's emulated replicas: the window it reads matches the one direct scraping gives."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import Instance
from optiinfra.metrics.prometheus_windows import PrometheusWindowSource
from optiinfra.metrics.scrape import VllmSample, parse_vllm_metrics
from optiinfra.metrics.windows import WindowStats, window_stats
from optiinfra.sim.vllm_emulator import ReplicaMetricsState, VllmEmulatorServer
from tests.real.client import complete_all, words
from tests.support.prometheus import SCRAPE_INTERVAL_S, running_prometheus, scraped_since
from tests.support.real_vllm import DEFAULT_MAX_MODEL_LEN, SERVED_NAME, VllmServer

pytestmark = [pytest.mark.real_vllm, pytest.mark.real_prometheus]

IDLE_S = 3 * SCRAPE_INTERVAL_S
"""Idle scrapes on each side of the traffic, so the window's first and last samples hold its counts."""

EXACT = ("prefix_hit_rate", "ttft_mean", "ttft_p50", "ttft_p95", "itl_mean", "itl_p95", "e2e_mean", "e2e_p95")
"""Ratios of increases within one window: Prometheus's extrapolation to the window's edges scales the
numerator and the denominator alike, so these agree exactly with the scraped deltas."""

COUNTS = ("requests", "prompt_tokens", "generation_tokens", "prefix_queries", "prefix_hits")
"""`increase` extrapolates the first-to-last sample span to the whole window (at most one scrape interval
on each side), so counts agree within that share of the window."""


def _host(url: str) -> str:
    return url.removeprefix("http://")


async def _scrape(url: str, replica: str) -> VllmSample:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/metrics", timeout=10.0)
        response.raise_for_status()
        return parse_vllm_metrics(response.text, replica=replica, at=datetime.now(UTC))


async def _wait_for_scrapes(prometheus: str, after: float) -> None:
    deadline = time.monotonic() + 30
    while not all(scraped_since(prometheus, job, after) for job in ("vllm", "emulator")):
        if time.monotonic() > deadline:
            raise AssertionError("Prometheus did not scrape its targets within 30s")
        await asyncio.sleep(0.2)


def _instance(instance_id: str, target: str) -> Instance:
    return Instance(
        instance_id=instance_id,
        instance_type="g6e.xlarge",
        lifecycle=PurchaseOption.ON_DEMAND,
        state="running",
        image_id="ami-0",
        private_ip=target,
    )


async def test_the_prometheus_path_reads_the_windows_that_direct_scraping_reads(
    real_vllm: VllmServer, tmp_path: Path
) -> None:
    emulated = ReplicaMetricsState("emulated-model", max_model_len=DEFAULT_MAX_MODEL_LEN)
    with VllmEmulatorServer() as emulators:
        emulator_url = emulators.add_replica("emulated", emulated)
        jobs = {"vllm": [_host(real_vllm.url)], "emulator": [_host(emulator_url)]}
        with running_prometheus(tmp_path / "prometheus", jobs) as prometheus:
            shared = words(200, 5)
            # The same kind of traffic once before the window, so the series the window reads exist at its
            # start (the rates' extrapolation then stays within the counts' tolerance).
            warm_up = [f"{shared} {words(10, s)}" for s in range(6, 12)]
            await complete_all(real_vllm.url, warm_up, max_tokens=16)
            await _wait_for_scrapes(prometheus, time.time())
            before = {
                name: await _scrape(url, name)
                for name, url in (("vllm", real_vllm.url), ("emulator", emulator_url))
            }
            opened = time.time()
            await asyncio.sleep(IDLE_S)

            await complete_all(real_vllm.url, [f"{shared} {words(10, s)}" for s in range(6)], max_tokens=16)
            for index in range(20):
                emulated.observe_request(
                    queue_s=0.01 * index,
                    ttft_s=0.05 + 0.02 * index,
                    e2e_s=1.0 + 0.1 * index,
                    prompt_tokens=100 + 10 * index,
                    output_tokens=12,
                    itl_s=0.03 + 0.002 * index,
                    prefix_queries=100 + 10 * index,
                    prefix_hits=50,
                )

            await asyncio.sleep(IDLE_S)
            await _wait_for_scrapes(prometheus, time.time())
            after = {
                name: await _scrape(url, name)
                for name, url in (("vllm", real_vllm.url), ("emulator", emulator_url))
            }
            now = datetime.now(UTC)
            # The window starts after `opened`: the sample Prometheus holds at its start is then the last
            # one scraped before `opened`, after the warm-up, as the direct `before` scrape is; its end,
            # after the last scrapes, matches `after`.
            window = timedelta(seconds=math.floor(now.timestamp() - opened))
            instances = [_instance("vllm", _host(real_vllm.url)), _instance("emulator", _host(emulator_url))]
            async with httpx.AsyncClient() as client:
                source = PrometheusWindowSource(prometheus, client, window=window)
                through_prometheus = {
                    row.replica: row for row in await source.window_stats("c", "w", instances, now)
                }

    assert set(through_prometheus) == {"vllm", "emulator"}
    for name in ("vllm", "emulator"):
        scraped = window_stats(before[name], after[name], customer_id="c", workload_id="w")
        read = through_prometheus[name]
        assert read.model_name == {"vllm": SERVED_NAME, "emulator": "emulated-model"}[name]
        assert scraped.requests > 0
        _agree(read, scraped, window.total_seconds())


def _agree(read: WindowStats, scraped: WindowStats, window_s: float) -> None:
    edge = 2 * SCRAPE_INTERVAL_S / (window_s - 2 * SCRAPE_INTERVAL_S)
    for field in COUNTS:
        expected = getattr(scraped, field)
        assert getattr(read, field) == pytest.approx(expected, rel=edge), field
    for field in EXACT:
        expected = getattr(scraped, field)
        if expected is None:
            assert getattr(read, field) is None, field
        else:
            assert getattr(read, field) == pytest.approx(expected, rel=1e-6), field
    assert read.errors == scraped.errors == 0
    assert read.running == scraped.running and read.waiting == scraped.waiting
