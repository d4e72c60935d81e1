"""Create a demo fleet in the twin: an image, a network, tagged instances (launched one by one, or by an
Auto Scaling group), and `days` of utilization history in CloudWatch under the same metric names the
CloudWatch agent publishes, so the adapter reads the twin exactly as it reads a real account."""

from __future__ import annotations

import asyncio
import base64
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from pydantic import BaseModel

from optiinfra.cloud import tags
from optiinfra.cloud.ec2 import LIVE_STATES, SIMULATOR_CREDENTIALS, aws_session, client_config
from optiinfra.domain.cloudwatch import (
    CPU_UTILIZATION,
    GPU_MEMORY_TOTAL,
    GPU_MEMORY_USED,
    GPU_UTILIZATION,
    MEMORY_UTILIZATION,
    CloudWatchMetric,
)
from optiinfra.domain.enums import PurchaseOption, UtilizationMetric
from optiinfra.domain.fleet import MetricSeries
from optiinfra.domain.series import floor_to_period
from optiinfra.sim.demo_fleet import DEMO_REGION, DemoFleet, DemoWorkload, UtilizationProfile, demo_fleet

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.client import AutoScalingClient
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_cloudwatch.literals import StandardUnitType
    from mypy_boto3_cloudwatch.type_defs import MetricDatumTypeDef
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.literals import InstanceTypeType
    from mypy_boto3_ec2.type_defs import (
        FilterTypeDef,
        LaunchTemplateBlockDeviceMappingRequestTypeDef,
        RunInstancesRequestTypeDef,
    )

DEMO_IMAGE_NAME = "optiinfra-demo-vllm"
DEMO_NETWORK_NAME = "optiinfra-demo"
ROOT_DEVICE = "/dev/sda1"
"""Moto reports every instance's root device as /dev/sda1 whatever the image says; using it keeps the
root volume mapping consistent."""
ROOT_VOLUME_GIB = 200
"""Room for the model weights, as a real vLLM host has."""
MAX_DATUMS_PER_PUT = 1000
"""PutMetricData takes at most 1000 datums per request."""

PERCENT_SOURCES = {
    UtilizationMetric.GPU_UTILIZATION: GPU_UTILIZATION,
    UtilizationMetric.CPU_UTILIZATION: CPU_UTILIZATION,
    UtilizationMetric.MEMORY_UTILIZATION: MEMORY_UTILIZATION,
}


class SeededFleet(BaseModel):
    """What seeding created, including the exact series it wrote (for tests and fake collectors)."""

    fleet: DemoFleet
    region: str
    image_id: str
    vpc_id: str
    subnet_id: str
    """The first zone's subnet: where Auto Scaling groups and the first replica of each workload run."""
    subnet_ids: list[str]
    """One subnet per zone; standalone replicas alternate between them."""
    security_group_id: str
    instance_ids: dict[str, list[str]]
    """Workload id -> its instance ids, in launch order."""
    scaling_groups: dict[str, str] = {}
    """Workload id -> the Auto Scaling group its instances run in, for workloads that have one."""
    series: list[MetricSeries]
    metrics_start: datetime
    metrics_end: datetime
    period_seconds: int

    @property
    def all_instance_ids(self) -> list[str]:
        return [instance_id for ids in self.instance_ids.values() for instance_id in ids]

    def series_for(self, instance_id: str, metric: UtilizationMetric) -> MetricSeries | None:
        return next((s for s in self.series if s.instance_id == instance_id and s.metric == metric), None)


def seed_fleet(
    ec2_client: EC2Client,
    cloudwatch_client: CloudWatchClient,
    autoscaling_client: AutoScalingClient,
    fleet: DemoFleet,
    now: datetime,
    days: int = 14,
    period_seconds: int = 3600,
    seed: int = 7,
) -> SeededFleet:
    """Blocking: meant for a fresh (or freshly reset) moto server."""
    image_id = _demo_image(ec2_client)
    vpc_id, subnet_ids, group_id = _demo_network(ec2_client, fleet.region)
    subnet_id = subnet_ids[0]
    instance_ids: dict[str, list[str]] = {}
    scaling_groups: dict[str, str] = {}
    for demo in fleet.deployments:
        workload_id = demo.workload.workload_id
        if demo.auto_scaling_group:
            scaling_groups[workload_id], instance_ids[workload_id] = _launch_group(
                ec2_client, autoscaling_client, demo, fleet, image_id, subnet_id, group_id
            )
        else:
            instance_ids[workload_id] = _launch_workload(
                ec2_client, demo, fleet, image_id, subnet_ids, group_id
            )
    end = floor_to_period(now, period_seconds)
    count = days * 86400 // period_seconds
    start = end - timedelta(seconds=count * period_seconds)
    series = generate_utilization(fleet, instance_ids, start, count, period_seconds, seed)
    _put_series(cloudwatch_client, fleet, instance_ids, series)
    return SeededFleet(
        fleet=fleet,
        region=fleet.region,
        image_id=image_id,
        vpc_id=vpc_id,
        subnet_id=subnet_id,
        subnet_ids=subnet_ids,
        security_group_id=group_id,
        instance_ids=instance_ids,
        scaling_groups=scaling_groups,
        series=series,
        metrics_start=start,
        metrics_end=end,
        period_seconds=period_seconds,
    )


async def seed_demo_fleet(
    endpoint_url: str, region: str = DEMO_REGION, now: datetime | None = None, *, days: int = 14
) -> SeededFleet:
    """Seed the embedded demo fleet into the moto server at `endpoint_url`."""
    session = aws_session(region, SIMULATOR_CREDENTIALS)
    ec2: EC2Client = session.client("ec2", endpoint_url=endpoint_url, config=client_config())
    cloudwatch: CloudWatchClient = session.client(
        "cloudwatch", endpoint_url=endpoint_url, config=client_config()
    )
    autoscaling: AutoScalingClient = session.client(
        "autoscaling", endpoint_url=endpoint_url, config=client_config()
    )
    moment = now or datetime.now(UTC)
    return await asyncio.to_thread(seed_fleet, ec2, cloudwatch, autoscaling, demo_fleet(region), moment, days)


def is_seeded(ec2_client: EC2Client, customer_id: str) -> bool:
    """Whether the twin already holds this customer's instances: seeding twice would double the fleet."""
    filters: list[FilterTypeDef] = [
        {"Name": f"tag:{tags.CUSTOMER}", "Values": [customer_id]},
        {"Name": "instance-state-name", "Values": sorted(LIVE_STATES)},
    ]
    return bool(ec2_client.describe_instances(Filters=filters)["Reservations"])


# ------------------------------------------------------------------------------------ resources


def _demo_image(ec2: EC2Client) -> str:
    """Our own registered image, so launches do not depend on which public AMIs moto ships."""
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [DEMO_IMAGE_NAME]}])
    if found["Images"]:
        return found["Images"][0]["ImageId"]
    registered = ec2.register_image(
        Name=DEMO_IMAGE_NAME,
        Description="vLLM on the AWS Deep Learning Base GPU AMI (demo)",
        Architecture="x86_64",
        RootDeviceName=ROOT_DEVICE,
        VirtualizationType="hvm",
    )
    return registered["ImageId"]


DEMO_ZONES = ("a", "b")
"""The demo network's Availability Zones (suffixes of the region), one subnet in each."""


def _demo_network(ec2: EC2Client, region: str) -> tuple[str, list[str], str]:
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{n}.0/24", AvailabilityZone=f"{region}{zone}")[
            "Subnet"
        ]["SubnetId"]
        for n, zone in enumerate(DEMO_ZONES, start=1)
    ]
    group_id = ec2.create_security_group(
        GroupName=f"{DEMO_NETWORK_NAME}-vllm", Description="vLLM replicas", VpcId=vpc_id
    )["GroupId"]
    ec2.create_tags(
        Resources=[vpc_id, *subnet_ids, group_id], Tags=tags.to_aws_tags({tags.NAME: DEMO_NETWORK_NAME})
    )
    return vpc_id, subnet_ids, group_id


def _launch_workload(
    ec2: EC2Client, demo: DemoWorkload, fleet: DemoFleet, image_id: str, subnet_ids: list[str], group_id: str
) -> list[str]:
    """One request per instance, so each replica gets its own Name tag at launch; replicas alternate
    between the zones' subnets, as a fleet spread for availability is."""
    workload = demo.workload
    ids: list[str] = []
    for index in range(1, demo.instance_count + 1):
        instance_tags = _workload_tags(fleet, demo, f"{workload.workload_id}-{index}")
        request: RunInstancesRequestTypeDef = {
            "ImageId": image_id,
            "InstanceType": cast("InstanceTypeType", demo.instance_type),
            "MinCount": 1,
            "MaxCount": 1,
            "SubnetId": subnet_ids[(index - 1) % len(subnet_ids)],
            "SecurityGroupIds": [group_id],
            "BlockDeviceMappings": [
                {
                    "DeviceName": ROOT_DEVICE,
                    "Ebs": {"VolumeSize": ROOT_VOLUME_GIB, "VolumeType": "gp3", "DeleteOnTermination": True},
                }
            ],
            "UserData": _user_data(demo),
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags.to_aws_tags(instance_tags)}],
        }
        if demo.lifecycle is PurchaseOption.SPOT:
            request["InstanceMarketOptions"] = {"MarketType": "spot"}
        ids.append(ec2.run_instances(**request)["Instances"][0]["InstanceId"])
    return ids


def _launch_group(
    ec2: EC2Client,
    autoscaling: AutoScalingClient,
    demo: DemoWorkload,
    fleet: DemoFleet,
    image_id: str,
    subnet_id: str,
    group_id: str,
) -> tuple[str, list[str]]:
    """(group name, instance ids): a launch template describing a replica as `_launch_workload` launches
    one, and an Auto Scaling group held at the demo's instance count that launches the instances itself.
    The workload's tags are the group's, propagated at launch (Auto Scaling adds aws:autoscaling:groupName
    to each instance), so the instances are found like any other replica."""
    workload = demo.workload
    name = scaling_group_name(fleet.customer.customer_id, workload.workload_id)
    root_volume: LaunchTemplateBlockDeviceMappingRequestTypeDef = {
        "DeviceName": ROOT_DEVICE,
        "Ebs": {"VolumeSize": ROOT_VOLUME_GIB, "VolumeType": "gp3", "DeleteOnTermination": True},
    }
    template = ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={
            "ImageId": image_id,
            "InstanceType": cast("InstanceTypeType", demo.instance_type),
            "SecurityGroupIds": [group_id],
            "BlockDeviceMappings": [root_volume],
            "UserData": base64.b64encode(_user_data(demo).encode()).decode(),
        },
    )["LaunchTemplate"]
    group_tags = _workload_tags(fleet, demo, workload.workload_id)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Default"},
        MinSize=demo.instance_count,
        MaxSize=demo.instance_count,
        DesiredCapacity=demo.instance_count,
        VPCZoneIdentifier=subnet_id,
        Tags=[{"Key": key, "Value": value, "PropagateAtLaunch": True} for key, value in group_tags.items()],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    return name, [instance["InstanceId"] for instance in group["Instances"]]


def scaling_group_name(customer_id: str, workload_id: str) -> str:
    return f"{customer_id}-{workload_id}"


def _workload_tags(fleet: DemoFleet, demo: DemoWorkload, name: str) -> dict[str, str]:
    return {
        tags.CUSTOMER: fleet.customer.customer_id,
        tags.WORKLOAD: demo.workload.workload_id,
        tags.MANAGED_BY: tags.MANAGED_BY_OPTIINFRA,
        tags.NAME: name,
    }


def _user_data(demo: DemoWorkload) -> str:
    """How a replica starts: vLLM serving the workload's model."""
    return f"#!/bin/bash\nvllm serve {demo.workload.model_name} --port 8000\n"


# ---------------------------------------------------------------------------------- utilization


def generate_utilization(
    fleet: DemoFleet,
    instance_ids: dict[str, list[str]],
    start: datetime,
    count: int,
    period_seconds: int,
    seed: int,
) -> list[MetricSeries]:
    """Deterministic per instance: its RNG is seeded from (seed, workload, replica index), so adding a
    workload does not change the others' series."""
    series: list[MetricSeries] = []
    for demo in fleet.deployments:
        workload_id = demo.workload.workload_id
        for index, instance_id in enumerate(instance_ids[workload_id]):
            rng = random.Random(f"{seed}/{workload_id}/{index}")
            shift = rng.uniform(-demo.instance_spread, demo.instance_spread)
            for metric in UtilizationMetric:
                profile = demo.profiles.get(metric)
                if profile is None:
                    continue
                values = [
                    _sample(profile, start + timedelta(seconds=i * period_seconds), shift, rng)
                    for i in range(count)
                ]
                series.append(
                    MetricSeries(
                        instance_id=instance_id,
                        metric=metric,
                        start=start,
                        period_seconds=period_seconds,
                        values=values,
                    )
                )
    return series


def _sample(profile: UtilizationProfile, moment: datetime, shift: float, rng: random.Random) -> float:
    hour = moment.hour + moment.minute / 60
    cycle = profile.daily_amplitude * math.cos(2 * math.pi * (hour - profile.peak_hour_utc) / 24)
    value = profile.mean + shift + cycle + rng.gauss(0.0, profile.noise)
    return round(min(100.0, max(0.0, value)), 3)


def _put_series(
    cloudwatch: CloudWatchClient,
    fleet: DemoFleet,
    instance_ids: dict[str, list[str]],
    series: list[MetricSeries],
) -> None:
    gpu_memory_mib = {
        instance_id: demo.gpu_memory_mib_per_gpu
        for demo in fleet.deployments
        for instance_id in instance_ids[demo.workload.workload_id]
    }
    by_namespace: dict[str, list[MetricDatumTypeDef]] = {}
    for one in series:
        for metric, datum in _datums(one, gpu_memory_mib[one.instance_id]):
            by_namespace.setdefault(metric.namespace, []).append(datum)
    for namespace, datums in by_namespace.items():
        for first in range(0, len(datums), MAX_DATUMS_PER_PUT):
            cloudwatch.put_metric_data(
                Namespace=namespace, MetricData=datums[first : first + MAX_DATUMS_PER_PUT]
            )


def _datums(
    series: MetricSeries, gpu_memory_mib: float
) -> Iterator[tuple[CloudWatchMetric, MetricDatumTypeDef]]:
    """GPU memory goes in as the agent sends it (used and total MiB); the rest as percentages."""
    for index, value in enumerate(series.values):
        moment = series.start + timedelta(seconds=index * series.period_seconds)
        if series.metric is UtilizationMetric.GPU_MEMORY_UTILIZATION:
            yield (
                GPU_MEMORY_USED,
                metric_datum(
                    GPU_MEMORY_USED, series.instance_id, moment, value / 100 * gpu_memory_mib, "Megabytes"
                ),
            )
            yield (
                GPU_MEMORY_TOTAL,
                metric_datum(GPU_MEMORY_TOTAL, series.instance_id, moment, gpu_memory_mib, "Megabytes"),
            )
        else:
            source = PERCENT_SOURCES[series.metric]
            yield source, metric_datum(source, series.instance_id, moment, value, "Percent")


def metric_datum(
    metric: CloudWatchMetric, instance_id: str, moment: datetime, value: float, unit: StandardUnitType
) -> MetricDatumTypeDef:
    return {
        "MetricName": metric.name,
        "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
        "Timestamp": moment,
        "Value": value,
        "Unit": unit,
    }
