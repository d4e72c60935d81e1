"""A workload's spot group against the twin: made from a replica's launch setup, its on-demand base kept
on-demand and the rest spot, a reclaimed spot instance replaced, a retry finding the group made, and the
compensation deleting it with its launch template."""

import pytest

from optiinfra.cloud import tags
from optiinfra.cloud.ec2 import NOT_MANAGED, CloudActionError
from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import SpotGroupSpec
from tests.support.cloud import SeededCloud

NAME = "optiinfra-demo-code-assist-spot"


@pytest.fixture
def cloud(seeded_cloud_no_metrics: SeededCloud) -> SeededCloud:
    return seeded_cloud_no_metrics


def _spec(cloud: SeededCloud, desired: int = 4, base: int = 2) -> SpotGroupSpec:
    source = sorted(cloud.seeded.instance_ids["code-assist"])[0]
    return SpotGroupSpec(
        name=NAME,
        source_instance_id=source,
        instance_types=["g5.xlarge", "g5.2xlarge"],
        subnet_ids=[cloud.seeded.subnet_id],
        desired_capacity=desired,
        on_demand_base=base,
    )


async def _create(cloud: SeededCloud, spec: SpotGroupSpec) -> tuple[bool, list[str]]:
    template_id, instance_tags = await cloud.fleet.ensure_launch_template(
        spec.name, spec.source_instance_id, spec.instance_types[0]
    )
    result = await cloud.groups.create_spot_group(spec, template_id, instance_tags)
    group = await cloud.groups.describe_group(spec.name)
    assert group is not None
    return result.already_in_target_state, group.instance_ids


async def test_the_group_keeps_its_base_on_demand_runs_the_rest_on_spot_and_replaces_a_reclaim(
    cloud: SeededCloud,
) -> None:
    spec = _spec(cloud)
    already, ids = await _create(cloud, spec)
    assert not already and len(ids) == 4
    instances = {
        i.instance_id: i for i in await cloud.fleet.describe_workload_instances("demo", "code-assist")
    }
    members = [instances[i] for i in ids]
    assert sorted(i.lifecycle for i in members) == [PurchaseOption.ON_DEMAND] * 2 + [PurchaseOption.SPOT] * 2
    assert {i.image_id for i in members} == {cloud.seeded.image_id}
    assert all(i.tags[tags.WORKLOAD] == "code-assist" for i in members)
    group = await cloud.groups.describe_workload_group("demo", "code-assist")
    assert group is not None and group.name == NAME and group.mixed
    assert (group.on_demand_base_capacity, group.in_service, group.capacity_rebalance) == (2, 4, True)
    assert group.spot_instance_types == ["g5.xlarge", "g5.2xlarge"]
    # A terminating replica is held for the drain time (CONTINUE: it goes then, whatever a handler does).
    (hook,) = cloud.groups.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=NAME)["LifecycleHooks"]
    assert (hook["LifecycleHookName"], hook["LifecycleTransition"]) == (
        "optiinfra-drain",
        "autoscaling:EC2_INSTANCE_TERMINATING",
    )
    assert (hook["HeartbeatTimeout"], hook["DefaultResult"]) == (spec.drain_seconds, "CONTINUE")

    # The spot market takes one back: the group replaces it, on spot again, and the base stays on-demand.
    reclaimed = next(i.instance_id for i in members if i.lifecycle is PurchaseOption.SPOT)
    cloud.fleet.ec2.terminate_instances(InstanceIds=[reclaimed])
    replaced = await cloud.groups.describe_group(NAME)
    assert replaced is not None and reclaimed not in replaced.instance_ids
    assert replaced.in_service == 4
    after = {i.instance_id: i for i in await cloud.fleet.describe_workload_instances("demo", "code-assist")}
    lifecycles = sorted(after[i].lifecycle for i in replaced.instance_ids)
    assert lifecycles == [PurchaseOption.ON_DEMAND] * 2 + [PurchaseOption.SPOT] * 2

    # A retry finds the group made; the compensation deletes it and its template; deleting again is a no-op.
    assert (await _create(cloud, spec))[0]
    deleted = await cloud.groups.delete_spot_group(NAME)
    assert not deleted.already_in_target_state
    assert await cloud.groups.describe_group(NAME) is None
    assert await cloud.fleet.delete_launch_template(NAME)
    assert (await cloud.groups.delete_spot_group(NAME)).already_in_target_state
    assert not await cloud.fleet.delete_launch_template(NAME)


async def test_a_group_of_that_name_made_by_someone_else_is_refused(cloud: SeededCloud) -> None:
    template = cloud.fleet.ec2.create_launch_template(
        LaunchTemplateName="theirs",
        LaunchTemplateData={"ImageId": cloud.seeded.image_id, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    cloud.groups.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=NAME,
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        VPCZoneIdentifier=cloud.seeded.subnet_id,
    )
    with pytest.raises(CloudActionError) as refused:
        await _create(cloud, _spec(cloud))
    assert refused.value.code == NOT_MANAGED
