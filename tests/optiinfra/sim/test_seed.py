"""The demo fleet tells its stories (over-provisioned, spot candidates, leave-alone) and seeding puts
exactly that into the twin."""

import base64
import statistics
from datetime import UTC, datetime, timedelta

from optiinfra.cloud import tags
from optiinfra.domain.enums import OperatingMode, PurchaseOption, RiskLevel, UtilizationMetric
from optiinfra.domain.fleet import MetricSeries
from optiinfra.sim.demo_fleet import DEMO_FLEET, demo_fleet
from optiinfra.sim.moto_server import reset_moto
from optiinfra.sim.seed import ROOT_VOLUME_GIB, generate_utilization, is_seeded, seed_demo_fleet
from tests.support.cloud import SeededCloud

NOW = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)
HOURS_14_DAYS = 14 * 24


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def _generated(workload_id: str, metric: UtilizationMetric, seed: int = 7) -> list[MetricSeries]:
    fleet = demo_fleet()
    ids = {
        w.workload.workload_id: [f"i-{w.workload.workload_id}-{n}" for n in range(w.instance_count)]
        for w in fleet.deployments
    }
    start = NOW - timedelta(days=14)
    series = generate_utilization(fleet, ids, start, HOURS_14_DAYS, 3600, seed)
    return [s for s in series if s.metric == metric and s.instance_id in ids[workload_id]]


def test_the_demo_customer_is_semi_autonomous_for_confident_low_risk_changes() -> None:
    customer = DEMO_FLEET.customer
    assert (customer.customer_id, customer.name) == ("demo", "Demo Inc.")
    assert customer.automation.operating_mode is OperatingMode.SEMI_AUTONOMOUS
    assert customer.automation.auto_execute_min_confidence == 0.8
    assert customer.automation.auto_execute_max_risk is RiskLevel.LOW


def test_the_demo_workloads_are_on_demand_gpu_fleets_in_one_region() -> None:
    shapes = {w.workload.workload_id: (w.instance_type, w.instance_count) for w in DEMO_FLEET.deployments}
    assert shapes["chat-8b"] == ("g5.8xlarge", 3)
    assert shapes["code-assist"] == ("g5.xlarge", 4)
    assert DEMO_FLEET.deployment("rag-embed").workload.critical
    assert not DEMO_FLEET.deployment("rag-embed").workload.stateless
    assert {w.lifecycle for w in DEMO_FLEET.deployments} == {PurchaseOption.ON_DEMAND}
    assert {w.workload.region for w in DEMO_FLEET.deployments} == {"us-east-1"}


def test_the_domain_workloads_belong_to_the_demo_customer() -> None:
    workloads = DEMO_FLEET.workloads()
    assert [w.workload_id for w in workloads] == [
        "chat-8b",
        "code-assist",
        "rag-embed",
        "batch-summarize",
        "support-bot",
    ]
    assert {w.customer_id for w in workloads} == {"demo"}


def test_demo_fleet_hands_out_independent_copies_in_the_asked_region() -> None:
    moved = demo_fleet("eu-west-1")
    moved.deployments.pop()
    assert {w.workload.region for w in moved.deployments} == {"eu-west-1"}
    assert len(demo_fleet().deployments) == len(DEMO_FLEET.deployments)
    assert DEMO_FLEET.region == "us-east-1"


def test_chat_8b_uses_its_gpu_but_barely_its_host() -> None:
    for series in _generated("chat-8b", UtilizationMetric.GPU_UTILIZATION):
        assert 55 <= p95(series.values) <= 75
    for series in _generated("chat-8b", UtilizationMetric.CPU_UTILIZATION):
        assert p95(series.values) <= 12
    for series in _generated("chat-8b", UtilizationMetric.MEMORY_UTILIZATION):
        assert statistics.mean(series.values) <= 12


def test_code_assist_has_a_replica_to_spare_at_its_peak() -> None:
    for series in _generated("code-assist", UtilizationMetric.GPU_UTILIZATION):
        assert 40 <= statistics.mean(series.values) <= 55
        assert p95(series.values) <= 65


def test_series_follow_a_daily_cycle() -> None:
    series = _generated("code-assist", UtilizationMetric.GPU_UTILIZATION)[0]
    by_hour = {
        h: statistics.mean(
            series.values[i]
            for i in range(len(series.values))
            if (series.start + timedelta(hours=i)).hour == h
        )
        for h in range(24)
    }
    assert by_hour[16] - by_hour[4] > 10  # peak at 16:00 UTC, trough twelve hours away


def test_generation_is_deterministic_per_seed() -> None:
    first = _generated("chat-8b", UtilizationMetric.CPU_UTILIZATION)
    assert first == _generated("chat-8b", UtilizationMetric.CPU_UTILIZATION)
    assert first != _generated("chat-8b", UtilizationMetric.CPU_UTILIZATION, seed=8)
    assert all(0.0 <= v <= 100.0 for s in first for v in s.values)


def test_seeding_launches_tagged_instances_per_workload(seeded_cloud: SeededCloud) -> None:
    seeded = seeded_cloud.seeded
    ec2 = seeded_cloud.fleet.ec2
    for demo in seeded.fleet.deployments:
        ids = seeded.instance_ids[demo.workload.workload_id]
        assert len(ids) == demo.instance_count
        reservations = ec2.describe_instances(InstanceIds=ids)["Reservations"]
        raws = [raw for r in reservations for raw in r["Instances"]]
        for raw in raws:
            found = tags.from_aws_tags(raw["Tags"])
            assert found[tags.CUSTOMER] == "demo"
            assert found[tags.WORKLOAD] == demo.workload.workload_id
            assert found[tags.MANAGED_BY] == tags.MANAGED_BY_OPTIINFRA
            assert found[tags.NAME].startswith(demo.workload.workload_id)
            assert raw["InstanceType"] == demo.instance_type
            assert raw["ImageId"] == seeded.image_id
            assert raw["SubnetId"] in seeded.subnet_ids
    root = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [seeded.all_instance_ids[0]]}]
    )["Volumes"]
    assert [v["Size"] for v in root] == [ROOT_VOLUME_GIB]


def test_support_bot_runs_in_an_auto_scaling_group_pinned_at_its_peak(seeded_cloud: SeededCloud) -> None:
    seeded = seeded_cloud.seeded
    assert seeded.scaling_groups == {"support-bot": "demo-support-bot"}
    autoscaling = seeded_cloud.groups.autoscaling
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["demo-support-bot"])[
        "AutoScalingGroups"
    ][0]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (4, 4, 4)
    assert autoscaling.describe_policies(AutoScalingGroupName="demo-support-bot")["ScalingPolicies"] == []
    assert {(t["Key"], t["Value"], t["PropagateAtLaunch"]) for t in group["Tags"]} >= {
        (tags.CUSTOMER, "demo", True),
        (tags.WORKLOAD, "support-bot", True),
    }
    ids = seeded.instance_ids["support-bot"]
    assert sorted(ids) == sorted(i["InstanceId"] for i in group["Instances"])
    raws = [
        raw
        for r in seeded_cloud.fleet.ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for raw in r["Instances"]
    ]
    assert {tags.from_aws_tags(raw["Tags"])["aws:autoscaling:groupName"] for raw in raws} == {
        "demo-support-bot"
    }
    (root_mapping,) = raws[0]["BlockDeviceMappings"]
    assert root_mapping["DeviceName"] == raws[0]["RootDeviceName"]
    root = seeded_cloud.fleet.ec2.describe_volumes(VolumeIds=[root_mapping["Ebs"]["VolumeId"]])["Volumes"]
    assert [v["Size"] for v in root] == [ROOT_VOLUME_GIB]
    user_data = seeded_cloud.fleet.ec2.describe_instance_attribute(InstanceId=ids[0], Attribute="userData")
    assert base64.b64decode(user_data["UserData"]["Value"]).decode().startswith("#!/bin/bash\nvllm serve")
    assert {len(s.values) for s in seeded.series if s.instance_id in ids} == {HOURS_14_DAYS}


def test_support_bot_swings_through_the_day() -> None:
    for series in _generated("support-bot", UtilizationMetric.GPU_UTILIZATION):
        by_hour = {
            h: statistics.mean(
                v for i, v in enumerate(series.values) if (series.start + timedelta(hours=i)).hour == h
            )
            for h in range(24)
        }
        assert by_hour[15] > 55 and by_hour[3] < 15


def test_seeding_records_fourteen_days_of_hourly_series(seeded_cloud: SeededCloud) -> None:
    seeded = seeded_cloud.seeded
    assert len(seeded.series) == len(seeded.all_instance_ids) * len(UtilizationMetric)
    assert {len(s.values) for s in seeded.series} == {HOURS_14_DAYS}
    assert seeded.metrics_end - seeded.metrics_start == timedelta(days=14)
    assert seeded.metrics_end <= datetime.now(UTC)
    assert seeded.metrics_end.minute == seeded.metrics_end.second == 0


async def test_seed_demo_fleet_seeds_a_server_by_url(moto_endpoint: str) -> None:
    reset_moto(moto_endpoint)
    seeded = await seed_demo_fleet(moto_endpoint, "us-east-1", NOW, days=1)
    assert seeded.metrics_end == datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert {len(s.values) for s in seeded.series} == {24}
    assert sum(len(ids) for ids in seeded.instance_ids.values()) == sum(
        w.instance_count for w in DEMO_FLEET.deployments
    )


def test_is_seeded_tells_a_seeded_twin_from_an_empty_one(seeded_cloud_no_metrics: SeededCloud) -> None:
    ec2 = seeded_cloud_no_metrics.fleet.ec2
    assert is_seeded(ec2, "demo")
    assert not is_seeded(ec2, "someone-else")
