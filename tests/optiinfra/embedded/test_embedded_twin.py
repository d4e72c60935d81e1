"""The embedded twin publishes to CloudWatch like the agent would, serves vLLM metrics, and follows
changes made to the cloud."""

from datetime import UTC, datetime, timedelta

import httpx

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.enums import UtilizationMetric
from optiinfra.embedded.twin import EmbeddedTwin
from optiinfra.metrics.scrape import scrape_vllm
from tests.support.cloud import SeededCloud


async def test_history_serving_and_following_a_resize(seeded_cloud_no_metrics: SeededCloud) -> None:
    cloud = seeded_cloud_no_metrics
    now = datetime.now(UTC)
    twin = await EmbeddedTwin.start(
        demo=cloud.seeded.fleet,
        instance_ids=cloud.seeded.instance_ids,
        fleet=cloud.fleet,
        catalog=PriceCatalog.load_default(),
        now=now,
        history_days=1,
    )
    try:
        chat = cloud.seeded.instance_ids["chat-8b"]
        series = await cloud.fleet.read_utilization(chat, now - timedelta(days=1), now, 3600)
        gpu = [s for s in series if s.metric is UtilizationMetric.GPU_UTILIZATION]
        assert len(gpu) == len(chat)
        assert all(len(s.values) >= 22 for s in gpu)
        assert all(30 <= max(s.values) <= 90 for s in gpu)

        instances = await cloud.fleet.describe_workload_instances("demo", "chat-8b")
        targets = twin.targets(instances)
        assert sorted(t.replica for t in targets) == sorted(chat)
        async with httpx.AsyncClient() as http:
            before = await scrape_vllm(targets[0].url, http, replica=targets[0].replica)
            resized = chat[0]
            await cloud.fleet.stop_instance(resized)
            await cloud.fleet.modify_instance_type(resized, "g5.2xlarge")
            await cloud.fleet.start_instance(resized)
            await twin.tick(60)
            await twin.tick(60)
            after_targets = {
                t.replica: t
                for t in twin.targets(await cloud.fleet.describe_workload_instances("demo", "chat-8b"))
            }
            after = await scrape_vllm(after_targets[resized].url, http, replica=resized)
        # The resized replica restarted: a new process, counters from zero, serving again.
        assert after.started_at != before.started_at
        assert after.counters["vllm:prompt_tokens"] > 0
    finally:
        twin.stop()


async def test_replicas_of_an_auto_scaling_group_publish_its_average_gpu(
    seeded_cloud_no_metrics: SeededCloud,
) -> None:
    """What support-bot's target-tracking policy would read: the group's average GPU utilization."""
    cloud = seeded_cloud_no_metrics
    now = datetime.now(UTC)
    twin = await EmbeddedTwin.start(
        demo=cloud.seeded.fleet,
        instance_ids=cloud.seeded.instance_ids,
        fleet=cloud.fleet,
        catalog=PriceCatalog.load_default(),
        now=now,
        history_days=1,
    )
    try:
        points = cloud.fleet.cloudwatch.get_metric_statistics(
            Namespace="CWAgent",
            MetricName="nvidia_smi_utilization_gpu",
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": "demo-support-bot"}],
            StartTime=now - timedelta(days=1),
            EndTime=now,
            Period=3600,
            Statistics=["Average", "SampleCount"],
        )["Datapoints"]
    finally:
        twin.stop()
    assert len(points) >= 22
    assert {p["SampleCount"] for p in points} == {4.0}  # one reading per replica per hour
    averages = [p["Average"] for p in points]
    assert min(averages) < 20 and max(averages) > 45  # the daily swing the policy follows
