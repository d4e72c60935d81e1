"""The Auto Scaling adapter against the twin: it finds a workload's group, each action reaches its target
state, a retry finds nothing left to do, and groups OptiInfra does not manage are left alone."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from optiinfra.cloud import tags
from optiinfra.cloud.autoscaling import AMBIGUOUS_GROUP, GROUP_NOT_FOUND, INVALID_SIZE, ScalingGroups
from optiinfra.cloud.ec2 import NOT_MANAGED, CloudActionError
from optiinfra.domain.enums import StepAction
from optiinfra.domain.fleet import ScalingMetric, ScalingPolicy
from tests.support.cloud import SeededCloud

GROUP = "demo-support-bot"


@pytest.fixture
def cloud(seeded_cloud_no_metrics: SeededCloud) -> SeededCloud:
    return seeded_cloud_no_metrics


def _gpu_policy(target: float = 70.0, name: str = "gpu") -> ScalingPolicy:
    return ScalingPolicy(
        name=name,
        metric=ScalingMetric(
            namespace="CWAgent",
            metric_name="nvidia_smi_utilization_gpu",
            dimensions={"AutoScalingGroupName": GROUP},
        ),
        target_value=target,
        estimated_instance_warmup=600,
    )


def _raw_group(cloud: SeededCloud) -> Any:
    return cloud.groups.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ][0]


def _unmanaged_group(cloud: SeededCloud, name: str, extra_tags: dict[str, str] | None = None) -> None:
    template = cloud.fleet.ec2.create_launch_template(
        LaunchTemplateName=name,
        LaunchTemplateData={"ImageId": cloud.seeded.image_id, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]["LaunchTemplateId"]
    cloud.groups.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template},
        MinSize=0,
        MaxSize=1,
        DesiredCapacity=0,
        VPCZoneIdentifier=cloud.seeded.subnet_id,
        Tags=[{"Key": k, "Value": v, "PropagateAtLaunch": True} for k, v in (extra_tags or {}).items()],
    )


async def test_the_workload_group_is_found_by_its_tags_with_the_instances_it_launched(
    cloud: SeededCloud,
) -> None:
    group = await cloud.groups.describe_workload_group("demo", "support-bot")

    assert group is not None
    assert (group.name, group.min_size, group.max_size, group.desired_capacity) == (GROUP, 4, 4, 4)
    assert group.default_cooldown == 300
    assert (group.policies, group.other_policies) == ([], [])
    assert sorted(group.instance_ids) == sorted(cloud.seeded.instance_ids["support-bot"])
    instances = await cloud.fleet.describe_workload_instances("demo", "support-bot")
    assert sorted(i.instance_id for i in instances) == sorted(group.instance_ids)
    assert {i.tags["aws:autoscaling:groupName"] for i in instances} == {GROUP}
    assert {i.instance_type for i in instances} == {"g6.xlarge"}


async def test_workloads_outside_auto_scaling_have_no_group(cloud: SeededCloud) -> None:
    assert await cloud.groups.describe_workload_group("demo", "chat-8b") is None
    assert await cloud.groups.describe_workload_group("someone-else", "support-bot") is None
    assert await cloud.groups.describe_group("no-such-group") is None


async def test_two_groups_for_one_workload_is_an_error(cloud: SeededCloud) -> None:
    _unmanaged_group(cloud, "demo-support-bot-2", {tags.CUSTOMER: "demo", tags.WORKLOAD: "support-bot"})
    with pytest.raises(CloudActionError) as raised:
        await cloud.groups.describe_workload_group("demo", "support-bot")
    assert raised.value.code == AMBIGUOUS_GROUP
    assert not raised.value.retryable


async def test_update_group_sets_limits_and_cooldown_once(cloud: SeededCloud) -> None:
    first = await cloud.groups.update_group(GROUP, min_size=2, max_size=5, default_cooldown=900)
    again = await cloud.groups.update_group(GROUP, min_size=2, max_size=5, default_cooldown=900)

    assert first.action is StepAction.UPDATE_SCALING_GROUP
    assert not first.already_in_target_state
    assert again.already_in_target_state
    raw = _raw_group(cloud)
    assert (raw["MinSize"], raw["MaxSize"], raw["DesiredCapacity"], raw["DefaultCooldown"]) == (2, 5, 4, 900)


async def test_update_group_with_a_desired_capacity_waits_for_the_instances(cloud: SeededCloud) -> None:
    await cloud.groups.update_group(GROUP, min_size=1, max_size=6, default_cooldown=300, desired_capacity=6)

    group = await cloud.groups.describe_group(GROUP)
    assert group is not None
    assert (group.desired_capacity, len(group.instance_ids)) == (6, 6)
    launched = await cloud.fleet.describe_workload_instances("demo", "support-bot")
    assert len([i for i in launched if i.state == "running"]) == 6


async def test_update_group_refuses_sizes_out_of_order_without_calling_aws(cloud: SeededCloud) -> None:
    calls: list[str] = []
    cloud.groups.autoscaling.meta.events.register(
        "before-call.auto-scaling.UpdateAutoScalingGroup", lambda **_: calls.append("update")
    )
    with pytest.raises(CloudActionError) as raised:
        await cloud.groups.update_group(GROUP, min_size=3, max_size=2, default_cooldown=300)
    with pytest.raises(CloudActionError):
        await cloud.groups.update_group(
            GROUP, min_size=1, max_size=2, default_cooldown=300, desired_capacity=4
        )
    assert raised.value.code == INVALID_SIZE
    assert calls == []


async def test_groups_not_managed_by_optiinfra_are_refused(cloud: SeededCloud) -> None:
    _unmanaged_group(cloud, "someone-elses")
    for action in (
        cloud.groups.update_group("someone-elses", min_size=0, max_size=3, default_cooldown=300),
        cloud.groups.put_target_tracking_policy("someone-elses", _gpu_policy()),
        cloud.groups.delete_policy("someone-elses", "gpu"),
    ):
        with pytest.raises(CloudActionError) as raised:
            await action
        assert raised.value.code == NOT_MANAGED
    with pytest.raises(CloudActionError) as missing:
        await cloud.groups.update_group("no-such-group", min_size=0, max_size=1, default_cooldown=300)
    assert (missing.value.code, missing.value.retryable) == (GROUP_NOT_FOUND, False)


async def test_a_target_tracking_policy_is_put_once_and_reads_back_as_put(cloud: SeededCloud) -> None:
    policy = _gpu_policy()
    first = await cloud.groups.put_target_tracking_policy(GROUP, policy)
    again = await cloud.groups.put_target_tracking_policy(GROUP, policy)

    assert not first.already_in_target_state
    assert again.already_in_target_state
    group = await cloud.groups.describe_group(GROUP)
    assert group is not None
    assert group.policies == [policy]
    raw = cloud.groups.autoscaling.describe_policies(AutoScalingGroupName=GROUP)["ScalingPolicies"][0]
    assert raw["PolicyType"] == "TargetTrackingScaling"
    assert raw["EstimatedInstanceWarmup"] == 600
    spec = raw["TargetTrackingConfiguration"]["CustomizedMetricSpecification"]
    assert (spec["Namespace"], spec["MetricName"], spec["Statistic"]) == (
        "CWAgent",
        "nvidia_smi_utilization_gpu",
        "Average",
    )
    assert spec["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": GROUP}]


async def test_putting_a_policy_of_the_same_name_replaces_it(cloud: SeededCloud) -> None:
    await cloud.groups.put_target_tracking_policy(GROUP, _gpu_policy(70.0))
    await cloud.groups.put_target_tracking_policy(GROUP, _gpu_policy(55.0))

    group = await cloud.groups.describe_group(GROUP)
    assert group is not None
    assert [(p.name, p.target_value) for p in group.policies] == [("gpu", 55.0)]


async def test_predefined_metrics_round_trip(cloud: SeededCloud) -> None:
    cpu = ScalingPolicy(
        name="cpu", metric=ScalingMetric(predefined_metric_type="ASGAverageCPUUtilization"), target_value=50.0
    )
    await cloud.groups.put_target_tracking_policy(GROUP, cpu)
    group = await cloud.groups.describe_group(GROUP)
    assert group is not None
    assert group.policy("cpu") == cpu


async def test_deleting_a_policy_succeeds_whether_or_not_it_is_there(cloud: SeededCloud) -> None:
    await cloud.groups.put_target_tracking_policy(GROUP, _gpu_policy())
    deleted = await cloud.groups.delete_policy(GROUP, "gpu")
    again = await cloud.groups.delete_policy(GROUP, "gpu")

    assert (deleted.already_in_target_state, again.already_in_target_state) == (False, True)
    group = await cloud.groups.describe_group(GROUP)
    assert group is not None and group.policies == []


async def test_policies_the_domain_does_not_model_are_named(cloud: SeededCloud) -> None:
    cloud.groups.autoscaling.put_scaling_policy(
        AutoScalingGroupName=GROUP,
        PolicyName="step-up",
        PolicyType="SimpleScaling",
        AdjustmentType="ChangeInCapacity",
        ScalingAdjustment=1,
    )
    group = await cloud.groups.describe_group(GROUP)
    assert group is not None
    assert (group.policies, group.other_policies) == ([], ["step-up"])


async def test_auto_scaling_contention_is_retryable(cloud: SeededCloud) -> None:
    groups: ScalingGroups = cloud.groups

    def busy(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "ScalingActivityInProgress", "Message": "a scaling activity is in progress"}},
            "UpdateAutoScalingGroup",
        )

    groups.autoscaling.meta.events.register("before-call.auto-scaling.UpdateAutoScalingGroup", busy)
    with pytest.raises(CloudActionError) as raised:
        await groups.update_group(GROUP, min_size=2, max_size=5, default_cooldown=600)
    assert (raised.value.code, raised.value.retryable) == ("ScalingActivityInProgress", True)
