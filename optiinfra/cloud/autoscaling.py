"""The EC2 Auto Scaling adapter: finds the group a workload runs in, and changes its size limits, its
cooldown and its target-tracking policies.

As with the EC2 adapter, every action is safe to retry: it reads the group first, does only what is still
missing, waits until the group holds as many instances in service as it wants, and says whether there was
anything to do. Re-applying the same values is a no-op; deleting a policy that is not there succeeds.
OptiInfra only changes groups that carry its `optiinfra:customer` tag.

boto3 is synchronous; each call runs in a worker thread (`asyncio.to_thread`) and heartbeats first (in
an activity), so waiting on a group that launches GPU instances does not look like a dead worker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from optiinfra.cloud import tags
from optiinfra.cloud.ec2 import (
    NOT_MANAGED,
    UNEXPECTED_STATE,
    WAIT_TIMEOUT,
    AwsCredentials,
    CloudActionError,
    adapter_credentials,
    aws_session,
    call_aws,
    client_config,
    heartbeat_if_in_activity,
    wait_timeout_for,
)
from optiinfra.domain.enums import StepAction
from optiinfra.domain.fleet import ScalingGroupState, ScalingMetric, ScalingPolicy, SpotGroupSpec
from optiinfra.settings import Settings

if TYPE_CHECKING:
    # Typed once `autoscaling` is among the boto3-stubs extras; until then the client is untyped and every
    # response goes through the pydantic models below.
    from mypy_boto3_autoscaling.client import AutoScalingClient

P = ParamSpec("P")
T = TypeVar("T")

GROUP_NOT_FOUND = "AutoScalingGroupNotFound"
AMBIGUOUS_GROUP = "AmbiguousScalingGroup"
INVALID_SIZE = "InvalidGroupSize"
TARGET_TRACKING = "TargetTrackingScaling"

IN_SERVICE = "InService"
SPOT_ALLOCATION_STRATEGY = "price-capacity-optimized"
"""Spot from the pools least likely to be reclaimed, the cheapest among them: AWS's recommended default."""
DRAIN_HOOK = "optiinfra-drain"
"""The spot group's termination lifecycle hook: a replica the group terminates (a capacity rebalance once
its replacement is in service, a scale-in) waits in Terminating:Wait for the spec's drain time, or until a
node-side handler completes the action, while its load balancer deregisters it and in-flight requests
finish. A spot reclaim itself leaves two minutes from the interruption notice, which the default fits."""
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
RETRYABLE_SCALING_ERROR_CODES = frozenset({"ScalingActivityInProgress", "ResourceContention"})
"""Auto Scaling's own passing conditions, on top of the EC2 adapter's (throttling, AWS faults)."""


class ScalingActionResult(BaseModel):
    """What one action did. `already_in_target_state` means it found nothing left to do."""

    action: StepAction
    group_name: str
    already_in_target_state: bool
    summary: str


class ScalingGroups:
    """The Auto Scaling groups of one region of one AWS account (or of the moto twin)."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        credentials: AwsCredentials | None = None,
        *,
        poll_interval_seconds: float = 5.0,
        wait_timeout_seconds: float = 900.0,
        on_call: Callable[[], None] | None = None,
    ) -> None:
        """`on_call` runs before each call and each poll, e.g. `temporalio.activity.heartbeat`."""
        self.region = region
        self.autoscaling: AutoScalingClient = aws_session(region, credentials).client(
            "autoscaling", endpoint_url=endpoint_url, config=client_config()
        )
        self._poll_interval = poll_interval_seconds
        self._wait_timeout = wait_timeout_seconds
        self._on_call = on_call

    @classmethod
    def from_settings(cls, settings: Settings, credentials: AwsCredentials | None = None) -> ScalingGroups:
        """The same endpoint, credentials and wait limits as `Ec2Fleet.from_settings`."""
        return cls(
            settings.aws_region,
            settings.aws_endpoint_url or None,
            adapter_credentials(settings, credentials),
            wait_timeout_seconds=wait_timeout_for(settings),
            on_call=heartbeat_if_in_activity,
        )

    # ----------------------------------------------------------------------------------- discovery

    async def describe_workload_group(self, customer_id: str, workload_id: str) -> ScalingGroupState | None:
        """The group whose tags name the workload; None when it runs outside Auto Scaling. Two groups for
        one workload is an error: which one to resize is not the agent's guess to make."""
        groups = await self._call(self._groups_tagged, customer_id, workload_id)
        if not groups:
            return None
        if len(groups) > 1:
            names = ", ".join(sorted(g.name for g in groups))
            message = f"{customer_id}/{workload_id} is tagged on several Auto Scaling groups: {names}"
            raise CloudActionError(AMBIGUOUS_GROUP, message, False)
        return await self._state(groups[0])

    async def describe_group(self, name: str) -> ScalingGroupState | None:
        """None when the group does not exist."""
        group = await self._call(self._group, name)
        return None if group is None else await self._state(group)

    # ------------------------------------------------------------------------------------- actions

    async def update_group(
        self,
        name: str,
        *,
        min_size: int,
        max_size: int,
        default_cooldown: int,
        desired_capacity: int | None = None,
    ) -> ScalingActionResult:
        """Set the group's size limits and default cooldown (and its desired capacity, when given; left
        out, Auto Scaling keeps it, clamped into the new limits), then wait until it has that many
        instances in service."""
        if not 0 <= min_size <= max_size or (
            desired_capacity is not None and not min_size <= desired_capacity <= max_size
        ):
            message = f"{name}: min {min_size}, desired {desired_capacity}, max {max_size} are out of order"
            raise CloudActionError(INVALID_SIZE, message, False)
        group = await self._managed_group(name)
        wanted = _GroupLimits(min_size, max_size, default_cooldown, desired_capacity)
        action = StepAction.UPDATE_SCALING_GROUP
        if wanted.met_by(group):
            await self._wait_until_in_service(name)
            return _result(action, name, True, f"{name} already scales within {wanted}")
        request: dict[str, Any] = {
            "AutoScalingGroupName": name,
            "MinSize": min_size,
            "MaxSize": max_size,
            "DefaultCooldown": default_cooldown,
        }
        if desired_capacity is not None:
            request["DesiredCapacity"] = desired_capacity
        await self._call(self._update_group, request)
        changed = await self._wait_until_in_service(name)
        if not wanted.met_by(changed):
            message = f"{name} is {_GroupLimits.of(changed)} after the update, wanted {wanted}"
            raise CloudActionError(UNEXPECTED_STATE, message, True)
        return _result(action, name, False, f"{name} now scales within {wanted}")

    async def put_target_tracking_policy(self, group_name: str, policy: ScalingPolicy) -> ScalingActionResult:
        """Create the policy, or replace the group's policy of that name."""
        await self._managed_group(group_name)
        action = StepAction.PUT_SCALING_POLICY
        current = await self._call(self._policies, group_name, [policy.name])
        if _policy_of(current, policy.name) == policy:
            return _result(action, group_name, True, f"{group_name} already has policy {policy.name}")
        await self._call(self._put_policy, group_name, policy)
        after = _policy_of(await self._call(self._policies, group_name, [policy.name]), policy.name)
        if after != policy:
            message = f"{group_name}: policy {policy.name} reads back as {after}, not as it was put"
            raise CloudActionError(UNEXPECTED_STATE, message, True)
        summary = f"{group_name} tracks {policy.target_value:g} on {_metric_label(policy.metric)}"
        return _result(action, group_name, False, summary)

    async def delete_policy(self, group_name: str, policy_name: str) -> ScalingActionResult:
        """Delete the group's policy of that name; a policy that is not there is already deleted."""
        await self._managed_group(group_name)
        action = StepAction.DELETE_SCALING_POLICY
        if not await self._call(self._policies, group_name, [policy_name]):
            return _result(action, group_name, True, f"{group_name} has no policy {policy_name}")
        await self._call(self._delete_policy, group_name, policy_name)
        return _result(action, group_name, False, f"deleted policy {policy_name} of {group_name}")

    async def create_spot_group(
        self, spec: SpotGroupSpec, launch_template_id: str, group_tags: dict[str, str]
    ) -> ScalingActionResult:
        """Create the group `spec` describes from the launch template (tagged with `group_tags`, which its
        instances carry too), then wait until all its instances are in service. A group of that name that
        OptiInfra made already is this step done before; one made by anyone else is refused."""
        action = StepAction.CREATE_SPOT_GROUP
        existing = await self._call(self._group, spec.name)
        if existing is not None:
            if existing.tag_map.get(tags.CUSTOMER) != group_tags.get(tags.CUSTOMER):
                message = f"an Auto Scaling group named {spec.name} exists and is not this workload's"
                raise CloudActionError(NOT_MANAGED, message, False)
            await self._call(self._put_drain_hook, spec)
            await self._wait_until_in_service(spec.name)
            return _result(action, spec.name, True, f"{spec.name} exists already")
        await self._call(self._create_group, spec, launch_template_id, group_tags)
        await self._call(self._put_drain_hook, spec)
        await self._wait_until_in_service(spec.name)
        summary = (
            f"created {spec.name}: {spec.desired_capacity} replicas, {spec.on_demand_base} on-demand, the "
            f"rest spot across {', '.join(spec.instance_types)} in {len(spec.subnet_ids)} subnet(s), "
            f"terminating replicas drained for up to {spec.drain_seconds}s"
        )
        return _result(action, spec.name, False, summary)

    async def delete_spot_group(self, name: str) -> ScalingActionResult:
        """Compensation of `create_spot_group`: delete the group and its instances and wait until it is
        gone; a group that is not there is deleted already."""
        action = StepAction.DELETE_SPOT_GROUP
        group = await self._call(self._group, name)
        if group is None:
            return _result(action, name, True, f"{name} does not exist")
        if tags.CUSTOMER not in group.tag_map:
            raise CloudActionError(
                NOT_MANAGED, f"Auto Scaling group {name} has no {tags.CUSTOMER} tag", False
            )
        await self._call(self._delete_group, name)
        deadline = time.monotonic() + self._wait_timeout
        while await self._call(self._group, name) is not None:
            if time.monotonic() >= deadline:
                raise CloudActionError(WAIT_TIMEOUT, f"{name} still exists after deletion", True)
            await asyncio.sleep(self._poll_interval)
        return _result(action, name, False, f"deleted {name} and its instances")

    # ------------------------------------------------------------------------------ action helpers

    async def _managed_group(self, name: str) -> _AwsGroup:
        """Refuse to touch groups OptiInfra does not manage: a wrong name must not resize someone's fleet."""
        group = await self._call(self._group, name)
        if group is None:
            raise CloudActionError(GROUP_NOT_FOUND, f"Auto Scaling group {name} does not exist", False)
        if tags.CUSTOMER not in group.tag_map:
            message = f"Auto Scaling group {name} has no {tags.CUSTOMER} tag"
            raise CloudActionError(NOT_MANAGED, message, False)
        return group

    async def _wait_until_in_service(self, name: str) -> _AwsGroup:
        """Poll until as many instances are in service as the group wants (GPU instances take minutes)."""
        deadline = time.monotonic() + self._wait_timeout
        while True:
            group = await self._call(self._group, name)
            if group is None:
                raise CloudActionError(GROUP_NOT_FOUND, f"{name} disappeared while waiting", False)
            if group.in_service == group.desired_capacity:
                return group
            if time.monotonic() >= deadline:
                message = (
                    f"{name} has {group.in_service} instances in service after {self._wait_timeout:.0f}s, "
                    f"wanted {group.desired_capacity}"
                )
                raise CloudActionError(WAIT_TIMEOUT, message, True)
            await asyncio.sleep(self._poll_interval)

    async def _state(self, group: _AwsGroup) -> ScalingGroupState:
        policies = await self._call(self._policies, group.name, [])
        return group.state(policies)

    async def _call(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one blocking boto3 interaction off the event loop, with AWS errors made typed."""
        if self._on_call is not None:
            self._on_call()
        try:
            return await call_aws(func, *args, **kwargs)
        except CloudActionError as error:
            if error.code in RETRYABLE_SCALING_ERROR_CODES and not error.retryable:
                raise CloudActionError(error.code, error.message, True) from error.__cause__
            raise

    # ------------------------------------------------------------------------- blocking boto3 calls

    def _groups_tagged(self, customer_id: str, workload_id: str) -> list[_AwsGroup]:
        filters = [
            {"Name": f"tag:{tags.CUSTOMER}", "Values": [customer_id]},
            {"Name": f"tag:{tags.WORKLOAD}", "Values": [workload_id]},
        ]
        found: list[_AwsGroup] = []
        for page in self.autoscaling.get_paginator("describe_auto_scaling_groups").paginate(Filters=filters):
            found.extend(_AwsGroup.model_validate(raw) for raw in page["AutoScalingGroups"])
        return [
            g
            for g in found
            if g.tag_map.get(tags.CUSTOMER) == customer_id and g.tag_map.get(tags.WORKLOAD) == workload_id
        ]

    def _group(self, name: str) -> _AwsGroup | None:
        response = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
        groups = [_AwsGroup.model_validate(raw) for raw in response["AutoScalingGroups"]]
        return next((g for g in groups if g.name == name), None)

    def _policies(self, group_name: str, names: list[str]) -> list[_AwsPolicy]:
        request: dict[str, Any] = {"AutoScalingGroupName": group_name}
        if names:
            request["PolicyNames"] = names
        found: list[_AwsPolicy] = []
        for page in self.autoscaling.get_paginator("describe_policies").paginate(**request):
            found.extend(_AwsPolicy.model_validate(raw) for raw in page["ScalingPolicies"])
        return [p for p in found if p.group_name == group_name and (not names or p.name in names)]

    def _update_group(self, request: dict[str, Any]) -> None:
        self.autoscaling.update_auto_scaling_group(**request)

    def _put_policy(self, group_name: str, policy: ScalingPolicy) -> None:
        request: dict[str, Any] = {
            "AutoScalingGroupName": group_name,
            "PolicyName": policy.name,
            "PolicyType": TARGET_TRACKING,
            "TargetTrackingConfiguration": target_tracking_configuration(policy),
        }
        if policy.estimated_instance_warmup is not None:
            request["EstimatedInstanceWarmup"] = policy.estimated_instance_warmup
        self.autoscaling.put_scaling_policy(**request)

    def _delete_policy(self, group_name: str, policy_name: str) -> None:
        self.autoscaling.delete_policy(AutoScalingGroupName=group_name, PolicyName=policy_name)

    def _create_group(self, spec: SpotGroupSpec, launch_template_id: str, group_tags: dict[str, str]) -> None:
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=spec.name,
            MinSize=spec.desired_capacity,
            MaxSize=spec.desired_capacity,
            DesiredCapacity=spec.desired_capacity,
            VPCZoneIdentifier=",".join(spec.subnet_ids),
            CapacityRebalance=True,
            MixedInstancesPolicy={
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": {
                        "LaunchTemplateId": launch_template_id,
                        "Version": "$Latest",
                    },
                    "Overrides": [{"InstanceType": name} for name in spec.instance_types],
                },
                "InstancesDistribution": {
                    "OnDemandBaseCapacity": spec.on_demand_base,
                    "OnDemandPercentageAboveBaseCapacity": 0,
                    "SpotAllocationStrategy": SPOT_ALLOCATION_STRATEGY,
                },
            },
            Tags=[
                {"Key": key, "Value": value, "PropagateAtLaunch": True}
                for key, value in sorted(group_tags.items())
            ],
        )

    def _put_drain_hook(self, spec: SpotGroupSpec) -> None:
        """Create or update (the call is an upsert) the group's drain hook."""
        self.autoscaling.put_lifecycle_hook(
            AutoScalingGroupName=spec.name,
            LifecycleHookName=DRAIN_HOOK,
            LifecycleTransition=TERMINATING,
            HeartbeatTimeout=spec.drain_seconds,
            DefaultResult="CONTINUE",
        )

    def _delete_group(self, name: str) -> None:
        self.autoscaling.delete_auto_scaling_group(AutoScalingGroupName=name, ForceDelete=True)


def target_tracking_configuration(policy: ScalingPolicy) -> dict[str, Any]:
    """The API's TargetTrackingConfiguration of a policy."""
    metric = policy.metric
    config: dict[str, Any] = {"TargetValue": policy.target_value, "DisableScaleIn": policy.disable_scale_in}
    if metric.predefined_metric_type is not None:
        predefined: dict[str, str] = {"PredefinedMetricType": metric.predefined_metric_type}
        if metric.resource_label is not None:
            predefined["ResourceLabel"] = metric.resource_label
        config["PredefinedMetricSpecification"] = predefined
    else:
        config["CustomizedMetricSpecification"] = {
            "Namespace": metric.namespace,
            "MetricName": metric.metric_name,
            "Dimensions": [{"Name": key, "Value": value} for key, value in sorted(metric.dimensions.items())],
            "Statistic": metric.statistic,
        }
    return config


def _metric_label(metric: ScalingMetric) -> str:
    if metric.predefined_metric_type is not None:
        return metric.predefined_metric_type
    return f"{metric.statistic} {metric.namespace}/{metric.metric_name}"


def _policy_of(policies: list[_AwsPolicy], name: str) -> ScalingPolicy | None:
    return next((p.policy() for p in policies if p.name == name), None)


def _result(action: StepAction, group_name: str, already: bool, summary: str) -> ScalingActionResult:
    return ScalingActionResult(
        action=action, group_name=group_name, already_in_target_state=already, summary=summary
    )


@dataclass(frozen=True)
class _GroupLimits:
    """The part of a group an update sets; `desired` None means "whatever the group has"."""

    min_size: int
    max_size: int
    cooldown: int
    desired: int | None

    @classmethod
    def of(cls, group: _AwsGroup) -> _GroupLimits:
        return cls(group.min_size, group.max_size, group.default_cooldown, group.desired_capacity)

    def met_by(self, group: _AwsGroup) -> bool:
        return (group.min_size, group.max_size, group.default_cooldown) == (
            self.min_size,
            self.max_size,
            self.cooldown,
        ) and self.desired in (None, group.desired_capacity)

    def __str__(self) -> str:
        desired = "" if self.desired is None else f", {self.desired} desired"
        return f"{self.min_size}-{self.max_size} instances{desired}, cooldown {self.cooldown}s"


# --- the API's shapes, as far as OptiInfra reads them ----------------------------------------------------


class _AwsShape(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _AwsTag(_AwsShape):
    key: str = Field(alias="Key")
    value: str = Field(default="", alias="Value")


class _AwsGroupInstance(_AwsShape):
    instance_id: str = Field(alias="InstanceId")
    lifecycle_state: str = Field(alias="LifecycleState")


class _AwsOverride(_AwsShape):
    instance_type: str = Field(alias="InstanceType")


class _AwsMixedTemplate(_AwsShape):
    overrides: list[_AwsOverride] = Field(default_factory=list, alias="Overrides")


class _AwsDistribution(_AwsShape):
    on_demand_base: int = Field(default=0, alias="OnDemandBaseCapacity")


class _AwsMixedPolicy(_AwsShape):
    launch_template: _AwsMixedTemplate = Field(alias="LaunchTemplate")
    distribution: _AwsDistribution = Field(default_factory=_AwsDistribution, alias="InstancesDistribution")


class _AwsGroup(_AwsShape):
    name: str = Field(alias="AutoScalingGroupName")
    min_size: int = Field(alias="MinSize")
    max_size: int = Field(alias="MaxSize")
    desired_capacity: int = Field(alias="DesiredCapacity")
    default_cooldown: int = Field(alias="DefaultCooldown")
    instances: list[_AwsGroupInstance] = Field(default_factory=list, alias="Instances")
    tags: list[_AwsTag] = Field(default_factory=list, alias="Tags")
    mixed: _AwsMixedPolicy | None = Field(default=None, alias="MixedInstancesPolicy")
    capacity_rebalance: bool = Field(default=False, alias="CapacityRebalance")

    @property
    def tag_map(self) -> dict[str, str]:
        return {tag.key: tag.value for tag in self.tags}

    @property
    def in_service(self) -> int:
        return sum(1 for instance in self.instances if instance.lifecycle_state == IN_SERVICE)

    def state(self, policies: list[_AwsPolicy]) -> ScalingGroupState:
        modelled = [(p.name, p.policy()) for p in policies]
        return ScalingGroupState(
            name=self.name,
            min_size=self.min_size,
            max_size=self.max_size,
            desired_capacity=self.desired_capacity,
            default_cooldown=self.default_cooldown,
            instance_ids=[instance.instance_id for instance in self.instances],
            policies=[policy for _, policy in modelled if policy is not None],
            other_policies=sorted(name for name, policy in modelled if policy is None),
            on_demand_base_capacity=self.mixed.distribution.on_demand_base if self.mixed else None,
            spot_instance_types=[o.instance_type for o in self.mixed.launch_template.overrides]
            if self.mixed
            else [],
            capacity_rebalance=self.capacity_rebalance,
            in_service=self.in_service,
        )


class _AwsDimension(_AwsShape):
    name: str = Field(alias="Name")
    value: str = Field(alias="Value")


class _AwsCustomizedMetric(_AwsShape):
    namespace: str | None = Field(default=None, alias="Namespace")
    metric_name: str | None = Field(default=None, alias="MetricName")
    dimensions: list[_AwsDimension] = Field(default_factory=list, alias="Dimensions")
    statistic: str = Field(default="Average", alias="Statistic")
    metrics: list[dict[str, Any]] = Field(default_factory=list, alias="Metrics")


class _AwsPredefinedMetric(_AwsShape):
    metric_type: str = Field(alias="PredefinedMetricType")
    resource_label: str | None = Field(default=None, alias="ResourceLabel")


class _AwsTargetTracking(_AwsShape):
    target_value: float = Field(alias="TargetValue")
    disable_scale_in: bool = Field(default=False, alias="DisableScaleIn")
    predefined: _AwsPredefinedMetric | None = Field(default=None, alias="PredefinedMetricSpecification")
    customized: _AwsCustomizedMetric | None = Field(default=None, alias="CustomizedMetricSpecification")

    def metric(self) -> ScalingMetric | None:
        """None for what the domain does not model: metric math (several metrics in one expression)."""
        if self.predefined is not None:
            return ScalingMetric(
                predefined_metric_type=self.predefined.metric_type,
                resource_label=self.predefined.resource_label,
            )
        spec = self.customized
        if spec is None or spec.metrics or spec.namespace is None or spec.metric_name is None:
            return None
        return ScalingMetric(
            namespace=spec.namespace,
            metric_name=spec.metric_name,
            dimensions={d.name: d.value for d in spec.dimensions},
            statistic=spec.statistic,
        )


class _AwsPolicy(_AwsShape):
    group_name: str = Field(alias="AutoScalingGroupName")
    name: str = Field(alias="PolicyName")
    policy_type: str = Field(default="SimpleScaling", alias="PolicyType")
    estimated_instance_warmup: int | None = Field(default=None, alias="EstimatedInstanceWarmup")
    target_tracking: _AwsTargetTracking | None = Field(default=None, alias="TargetTrackingConfiguration")

    def policy(self) -> ScalingPolicy | None:
        """The target-tracking policy; None for other policy types and for metric math."""
        if self.policy_type != TARGET_TRACKING or self.target_tracking is None:
            return None
        metric = self.target_tracking.metric()
        if metric is None:
            return None
        return ScalingPolicy(
            name=self.name,
            metric=metric,
            target_value=self.target_tracking.target_value,
            disable_scale_in=self.target_tracking.disable_scale_in,
            estimated_instance_warmup=self.estimated_instance_warmup,
        )
