"""The embedded fleet: the twin behind the moto cloud. Its replicas publish host readings to CloudWatch
and serve vLLM /metrics over HTTP, so the real collection pipeline and agents read it as a real fleet;
it follows what the agents execute (resized, replaced or stopped instances) on every tick."""

import asyncio
from collections.abc import Sequence
from datetime import datetime

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud import tags
from optiinfra.cloud.ec2 import Ec2Fleet
from optiinfra.domain.fleet import Instance
from optiinfra.metrics.collector import ScrapeTarget
from optiinfra.sim.demo_fleet import DemoFleet
from optiinfra.sim.twin.clock import TwinClock
from optiinfra.sim.twin.cloudwatch_agent import CloudWatchAgentSink
from optiinfra.sim.twin.fleet import FleetTwin
from optiinfra.sim.vllm_emulator import VllmEmulatorServer

HISTORY_WINDOW_S = 3600.0
HISTORY_REQUESTS_SAMPLE = 0
"""Requests of the simulated history drawn one by one into the replicas' latency histograms: none, they are
counted only. No window is ever read from before the stack started (the collector's first pass primes, the
history goes to CloudWatch as host readings), and drawing 200 per replica and hour of 14 days was most of
the stack's start."""


class EmbeddedTwin:
    def __init__(
        self, twin: FleetTwin, fleet: Ec2Fleet, emulators: VllmEmulatorServer, customer_id: str
    ) -> None:
        self._twin = twin
        self._fleet = fleet
        self._emulators = emulators
        self._customer_id = customer_id
        self._sink = CloudWatchAgentSink(fleet.cloudwatch)
        self._lock = asyncio.Lock()

    @classmethod
    async def start(
        cls,
        *,
        demo: DemoFleet,
        instance_ids: dict[str, list[str]],
        fleet: Ec2Fleet,
        catalog: PriceCatalog,
        now: datetime,
        history_days: int = 14,
        seed: int = 7,
        time_of_day_s: float | None = None,
    ) -> "EmbeddedTwin":
        """Simulate `history_days` up to `now` into CloudWatch (what the fleet would have published),
        then serve every replica's /metrics. With `time_of_day_s`, the traffic's day stands there at `now`
        (see `TwinClock.ending_at`), whatever time of day `now` is."""
        clock = TwinClock.ending_at(now, history_days * 86400.0, time_of_day_s=time_of_day_s)
        twin = FleetTwin.from_demo_fleet(demo, instance_ids, catalog, seed, clock=clock)
        for deployment in demo.deployments:
            workload_id = deployment.workload.workload_id
            # Replicas are known by their instance ids here, as the collector and the cloud know them.
            twin.sync_replicas(
                workload_id, [(iid, iid, deployment.instance_type) for iid in instance_ids[workload_id]]
            )
        embedded = cls(twin, fleet, VllmEmulatorServer(), demo.customer.customer_id)
        embedded._follow_scaling_groups(await embedded._workload_instances())
        await asyncio.to_thread(
            twin.run,
            history_days * 86400.0,
            HISTORY_WINDOW_S,
            embedded._sink,
            with_window_stats=False,
            requests_sample=HISTORY_REQUESTS_SAMPLE,
        )
        embedded._serve_current_replicas()
        return embedded

    def targets(self, instances: Sequence[Instance]) -> list[ScrapeTarget]:
        """The scrape targets of a workload's running instances (a ScrapeTargetResolver)."""
        urls = self._emulators.urls
        return [
            ScrapeTarget(replica=i.instance_id, url=f"{urls[i.instance_id]}/metrics")
            for i in instances
            if i.instance_id in urls and i.state == "running"
        ]

    async def tick(self, window_s: float) -> None:
        """Follow the cloud, then simulate one window and publish it."""
        async with self._lock:
            by_workload = await self._workload_instances()
            for workload_id, instances in by_workload.items():
                running = [
                    (i.instance_id, i.instance_id, i.instance_type) for i in instances if i.state == "running"
                ]
                self._twin.sync_replicas(workload_id, running)
            self._follow_scaling_groups(by_workload)
            self._serve_current_replicas()
            records = await asyncio.to_thread(self._twin.advance, window_s)
            samples = [
                r.window.utilization.sample(self._customer_id, r.instance_id, r.start) for r in records
            ]
            await asyncio.to_thread(self._sink.write_utilization, samples)

    async def run_live(self, window_s: float) -> None:
        """Keep the twin on wall-clock time: one window every `window_s` seconds until cancelled."""
        while True:
            await asyncio.sleep(window_s)
            await self.tick(window_s)

    def stop(self) -> None:
        self._emulators.stop()

    async def _workload_instances(self) -> dict[str, list[Instance]]:
        return {
            workload_id: await self._fleet.describe_workload_instances(self._customer_id, workload_id)
            for workload_id in self._twin.workload_ids
        }

    def _follow_scaling_groups(self, by_workload: dict[str, list[Instance]]) -> None:
        """Which replicas run in an Auto Scaling group, so their readings also go under its dimension."""
        self._sink.scaling_groups = {
            i.instance_id: i.tags[tags.AUTOSCALING_GROUP]
            for instances in by_workload.values()
            for i in instances
            if tags.AUTOSCALING_GROUP in i.tags
        }

    def _serve_current_replicas(self) -> None:
        self._emulators.serve_exactly(self._twin.metrics_states())
