"""Each saga action against the twin: it reaches its target state, a retry finds nothing left to do,
and a precondition it cannot meet is a clear, typed error."""

from typing import Any

import pytest

from optiinfra.cloud import tags
from optiinfra.cloud.ec2 import CloudActionError, client_token
from optiinfra.domain.enums import PurchaseOption, StepAction
from optiinfra.sim.seed import ROOT_VOLUME_GIB
from tests.support.cloud import SeededCloud

STEP = "wf-123/launch-1"


@pytest.fixture
def cloud(seeded_cloud_no_metrics: SeededCloud) -> SeededCloud:
    """These tests act on instances only; utilization history would just slow them down."""
    return seeded_cloud_no_metrics


def _launched_ids(cloud: SeededCloud, step_key: str) -> list[str]:
    pages = cloud.fleet.ec2.describe_instances(
        Filters=[{"Name": f"tag:{tags.STEP_KEY}", "Values": [step_key]}]
    )
    return [raw["InstanceId"] for r in pages["Reservations"] for raw in r["Instances"]]


async def test_launch_replacement_starts_a_copy_with_the_new_type(cloud: SeededCloud) -> None:
    source_id = cloud.seeded.instance_ids["chat-8b"][0]

    launched = await cloud.fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)

    assert launched.action is StepAction.LAUNCH_REPLACEMENT
    assert not launched.already_in_target_state
    assert launched.instance_ids == [launched.instance_id]
    assert (launched.instance_type, launched.lifecycle) == ("g6.xlarge", PurchaseOption.ON_DEMAND)
    raw = cloud.fleet.ec2.describe_instances(InstanceIds=[launched.instance_id])["Reservations"][0][
        "Instances"
    ][0]
    assert raw["State"]["Name"] == "running"
    assert raw["ImageId"] == cloud.seeded.image_id
    assert raw["SubnetId"] == cloud.seeded.subnet_id
    assert [g["GroupId"] for g in raw["SecurityGroups"]] == [cloud.seeded.security_group_id]
    assert raw["ClientToken"] == client_token(STEP)
    found = tags.from_aws_tags(raw["Tags"])
    assert found[tags.STEP_KEY] == STEP
    assert found[tags.REPLACES] == source_id
    assert (found[tags.CUSTOMER], found[tags.WORKLOAD], found[tags.NAME]) == ("demo", "chat-8b", "chat-8b-1")


async def test_a_replacement_inherits_boot_setup_and_root_volume(cloud: SeededCloud) -> None:
    ec2 = cloud.fleet.ec2
    source_id = cloud.seeded.instance_ids["chat-8b"][0]

    launched = await cloud.fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)

    def user_data(instance_id: str) -> Any:
        return ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]

    assert user_data(launched.instance_id) == user_data(source_id)
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [launched.instance_id]}]
    )
    assert [(v["Size"], v["VolumeType"]) for v in volumes["Volumes"]] == [(ROOT_VOLUME_GIB, "gp3")]


async def test_launching_twice_with_one_step_key_leaves_one_instance(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    source_id = cloud.seeded.instance_ids["code-assist"][0]

    first = await fleet.launch_replacement(STEP, source_id, "g6e.xlarge", PurchaseOption.SPOT)
    again = await fleet.launch_replacement(STEP, source_id, "g6e.xlarge", PurchaseOption.SPOT)

    assert again.already_in_target_state
    assert again.instance_id == first.instance_id
    assert _launched_ids(cloud, STEP) == [first.instance_id]
    workload = await fleet.describe_workload_instances("demo", "code-assist")
    assert len(workload) == 5


async def test_a_spot_replacement_is_seen_as_spot(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    source_id = cloud.seeded.instance_ids["code-assist"][0]

    launched = await fleet.launch_replacement(STEP, source_id, "g6e.xlarge", PurchaseOption.SPOT)

    assert launched.lifecycle is PurchaseOption.SPOT
    instance = await fleet.get_instance(launched.instance_id)
    assert instance is not None and instance.lifecycle is PurchaseOption.SPOT
    lifecycles = {
        i.instance_id: i.lifecycle for i in await fleet.describe_workload_instances("demo", "code-assist")
    }
    assert lifecycles[launched.instance_id] is PurchaseOption.SPOT
    assert lifecycles[source_id] is PurchaseOption.ON_DEMAND
    found = await fleet.find_launched(STEP)
    assert found is not None and found.instance_id == launched.instance_id


async def test_a_stopped_replacement_is_started_again_by_a_retry(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    source_id = cloud.seeded.instance_ids["chat-8b"][0]
    launched = await fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)
    await fleet.stop_instance(launched.instance_id)

    again = await fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)

    assert again.instance_id == launched.instance_id
    instance = await fleet.get_instance(launched.instance_id)
    assert instance is not None and instance.state == "running"


async def test_terminate_launched_undoes_a_launch_once(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    source_id = cloud.seeded.instance_ids["chat-8b"][0]
    launched = await fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)

    undone = await fleet.terminate_launched(STEP)
    again = await fleet.terminate_launched(STEP)

    assert (undone.action, undone.instance_ids, undone.already_in_target_state) == (
        StepAction.TERMINATE_LAUNCHED,
        [launched.instance_id],
        False,
    )
    assert again.already_in_target_state
    instance = await fleet.find_launched(STEP)
    assert instance is not None and instance.state == "terminated"
    assert len(await fleet.describe_workload_instances("demo", "chat-8b")) == 3


async def test_terminate_launched_without_a_launch_is_a_no_op(cloud: SeededCloud) -> None:
    result = await cloud.fleet.terminate_launched("never-launched")

    assert result.already_in_target_state
    assert result.instance_ids == []
    assert await cloud.fleet.find_launched("never-launched") is None


async def test_a_step_key_never_launches_twice_even_after_compensation(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    source_id = cloud.seeded.instance_ids["chat-8b"][0]
    await fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)
    await fleet.terminate_launched(STEP)

    with pytest.raises(CloudActionError) as raised:
        await fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)

    assert (raised.value.code, raised.value.retryable) == ("ReplacementTerminated", False)


async def test_launching_from_an_unknown_source_is_permanent(cloud: SeededCloud) -> None:
    with pytest.raises(CloudActionError) as raised:
        await cloud.fleet.launch_replacement(
            STEP, "i-0123456789abcdef0", "g6.xlarge", PurchaseOption.ON_DEMAND
        )

    assert (raised.value.code, raised.value.retryable) == ("InvalidInstanceID.NotFound", False)
    assert _launched_ids(cloud, STEP) == []


async def test_stop_twice_then_start_twice(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    instance_id = cloud.seeded.instance_ids["chat-8b"][1]

    stopped = [await fleet.stop_instance(instance_id), await fleet.stop_instance(instance_id)]
    instance = await fleet.get_instance(instance_id)
    assert instance is not None and instance.state == "stopped"
    started = [await fleet.start_instance(instance_id), await fleet.start_instance(instance_id)]

    assert [r.already_in_target_state for r in stopped + started] == [False, True, False, True]
    assert [r.action for r in stopped + started] == [StepAction.STOP_INSTANCE] * 2 + [
        StepAction.START_INSTANCE
    ] * 2
    instance = await fleet.get_instance(instance_id)
    assert instance is not None and instance.state == "running"


async def test_modify_instance_type_on_a_stopped_instance(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    instance_id = cloud.seeded.instance_ids["chat-8b"][2]
    await fleet.stop_instance(instance_id)

    changed = await fleet.modify_instance_type(instance_id, "g6.2xlarge")
    again = await fleet.modify_instance_type(instance_id, "g6.2xlarge")
    await fleet.start_instance(instance_id)

    assert (changed.already_in_target_state, again.already_in_target_state) == (False, True)
    instance = await fleet.get_instance(instance_id)
    assert instance is not None
    assert (instance.instance_type, instance.state) == ("g6.2xlarge", "running")
    # A retry after the instance was started again finds the type already set and touches nothing.
    assert (await fleet.modify_instance_type(instance_id, "g6.2xlarge")).already_in_target_state


async def test_modify_instance_type_refuses_a_running_instance(cloud: SeededCloud) -> None:
    instance_id = cloud.seeded.instance_ids["chat-8b"][0]

    with pytest.raises(CloudActionError) as raised:
        await cloud.fleet.modify_instance_type(instance_id, "g6.2xlarge")

    assert raised.value.code == "IncorrectInstanceState"
    assert not raised.value.retryable
    assert "stopped" in raised.value.message
    instance = await cloud.fleet.get_instance(instance_id)
    assert instance is not None and instance.instance_type == "g5.8xlarge"


async def test_terminate_instance_twice(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    instance_id = cloud.seeded.instance_ids["rag-embed"][0]

    first = await fleet.terminate_instance(instance_id)
    again = await fleet.terminate_instance(instance_id)

    assert (first.already_in_target_state, again.already_in_target_state) == (False, True)
    instance = await fleet.get_instance(instance_id)
    assert instance is not None and instance.state == "terminated"


async def test_a_terminated_instance_cannot_be_stopped_or_started(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    instance_id = cloud.seeded.instance_ids["rag-embed"][1]
    await fleet.terminate_instance(instance_id)

    for action in (fleet.stop_instance, fleet.start_instance):
        with pytest.raises(CloudActionError) as raised:
            await action(instance_id)
        assert (raised.value.code, raised.value.retryable) == ("IncorrectInstanceState", False)


async def test_instances_without_the_customer_tag_are_not_touched(cloud: SeededCloud) -> None:
    ec2 = cloud.fleet.ec2
    reservation = ec2.run_instances(
        ImageId=cloud.seeded.image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1
    )
    foreign_id = reservation["Instances"][0]["InstanceId"]

    for action in (cloud.fleet.stop_instance, cloud.fleet.terminate_instance):
        with pytest.raises(CloudActionError) as raised:
            await action(foreign_id)
        assert (raised.value.code, raised.value.retryable) == ("NotManaged", False)
    with pytest.raises(CloudActionError, match="NotManaged"):
        await cloud.fleet.launch_replacement(STEP, foreign_id, "g6.xlarge", PurchaseOption.ON_DEMAND)
    instance = await cloud.fleet.get_instance(foreign_id)
    assert instance is not None and instance.state == "running"


async def test_step_keys_with_filter_wildcards_are_matched_literally(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    source_id = cloud.seeded.instance_ids["chat-8b"][0]
    wild = await fleet.launch_replacement("wf-*/launch-?", source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)

    other = await fleet.launch_replacement("wf-1/launch-a", source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)
    again = await fleet.launch_replacement("wf-*/launch-?", source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)

    assert not other.already_in_target_state
    assert other.instance_id != wild.instance_id
    assert (again.already_in_target_state, again.instance_id) == (True, wild.instance_id)


async def test_reusing_a_step_key_for_another_shape_is_refused(cloud: SeededCloud) -> None:
    fleet = cloud.fleet
    source_id = cloud.seeded.instance_ids["chat-8b"][0]
    await fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.ON_DEMAND)

    with pytest.raises(CloudActionError) as raised:
        await fleet.launch_replacement(STEP, source_id, "g6.xlarge", PurchaseOption.SPOT)

    assert (raised.value.code, raised.value.retryable) == ("IdempotentParameterMismatch", False)
    assert len(_launched_ids(cloud, STEP)) == 1
