"""Discovery by tags, over real HTTP to the twin."""

import pytest

from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, Ec2Fleet
from optiinfra.domain.enums import PurchaseOption
from optiinfra.settings import Settings
from tests.support.cloud import SeededCloud


async def test_a_workload_is_found_by_its_customer_and_workload_tags(cloud: SeededCloud) -> None:
    instances = await cloud.fleet.describe_workload_instances("demo", "chat-8b")

    assert sorted(i.instance_id for i in instances) == sorted(cloud.seeded.instance_ids["chat-8b"])
    assert {i.availability_zone for i in instances} == {"us-east-1a", "us-east-1b"}  # spread over two zones
    for instance in instances:
        assert instance.instance_type == "g5.8xlarge"
        assert instance.lifecycle is PurchaseOption.ON_DEMAND
        assert instance.state == "running"
        assert instance.image_id == cloud.seeded.image_id
        assert instance.subnet_id in cloud.seeded.subnet_ids
        zone = "a" if instance.subnet_id == cloud.seeded.subnet_ids[0] else "b"
        assert instance.availability_zone == f"us-east-1{zone}"
        assert instance.launch_time is not None
        assert instance.launch_time.utcoffset() is not None and not instance.launch_time.utcoffset()
        assert instance.tags["optiinfra:workload"] == "chat-8b"


@pytest.fixture
def cloud(seeded_cloud_no_metrics: SeededCloud) -> SeededCloud:
    """These tests act on instances only; utilization history would just slow them down."""
    return seeded_cloud_no_metrics


async def test_other_customers_and_unknown_workloads_find_nothing(cloud: SeededCloud) -> None:
    assert await cloud.fleet.describe_workload_instances("someone-else", "chat-8b") == []
    assert await cloud.fleet.describe_workload_instances("demo", "no-such-workload") == []


async def test_terminated_instances_leave_the_workload_but_stopped_ones_stay(
    cloud: SeededCloud,
) -> None:
    fleet = cloud.fleet
    first, second, third = cloud.seeded.instance_ids["chat-8b"]
    await fleet.terminate_instance(first)
    await fleet.stop_instance(second)

    found = {i.instance_id: i.state for i in await fleet.describe_workload_instances("demo", "chat-8b")}

    assert found == {second: "stopped", third: "running"}


async def test_get_instance_reads_one_instance_or_none(cloud: SeededCloud) -> None:
    instance_id = cloud.seeded.instance_ids["rag-embed"][0]

    instance = await cloud.fleet.get_instance(instance_id)

    assert instance is not None
    assert (instance.instance_id, instance.instance_type) == (instance_id, "g6.xlarge")
    assert await cloud.fleet.get_instance("i-0123456789abcdef0") is None


async def test_from_settings_reaches_the_twin_named_by_the_endpoint(cloud: SeededCloud) -> None:
    settings = Settings(aws_endpoint_url=cloud.endpoint_url, aws_region="us-east-1")

    fleet = Ec2Fleet.from_settings(settings)

    assert fleet.endpoint_url == cloud.endpoint_url
    assert len(await fleet.describe_workload_instances("demo", "code-assist")) == 4


def test_from_settings_without_endpoint_means_real_aws() -> None:
    fleet = Ec2Fleet.from_settings(Settings(aws_endpoint_url="", aws_region="eu-west-1"))
    assert fleet.endpoint_url is None
    assert fleet.ec2.meta.region_name == "eu-west-1"
    assert "amazonaws.com" in fleet.ec2.meta.endpoint_url
    assert SIMULATOR_CREDENTIALS.access_key_id == "optiinfra-sim"
