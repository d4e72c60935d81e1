"""Spot purchases in the twin's mixed-instances Auto Scaling groups.

Moto 5 stores a group's MixedInstancesPolicy but launches every instance of it on-demand. AWS keeps
`OnDemandBaseCapacity` instances on-demand and, above it, `OnDemandPercentageAboveBaseCapacity` percent
(the rest spot). The spot strategy puts replicas in such groups and counts on their purchase option, so
the twin must show it: this wraps moto's launching, in this process only, to mark the instances above the
on-demand share as spot, as EC2 reports them (InstanceLifecycle "spot"). A reclaimed spot instance
(terminated) is replaced by moto's group on its next read, and the replacement is spot or on-demand by the
same rule, as AWS's would be."""

from __future__ import annotations

import math
import threading
from typing import Any

from moto.autoscaling.models import FakeAutoScalingGroup

LAUNCH_METHOD = "replace_autoscaling_group_instances"
"""The group method moto launches (and replaces) a group's instances with."""

_install_lock = threading.Lock()
_installed = False


def on_demand_share(policy: dict[str, Any], capacity: int) -> int:
    """How many of `capacity` instances a mixed-instances policy keeps on-demand."""
    distribution = policy.get("InstancesDistribution") or {}
    base = int(distribution.get("OnDemandBaseCapacity", 0))
    above = int(distribution.get("OnDemandPercentageAboveBaseCapacity", 100))
    return min(capacity, base) + math.ceil(max(0, capacity - base) * above / 100)


def _mark_purchases(group: FakeAutoScalingGroup) -> None:
    policy = group.mixed_instances_policy
    if not policy:
        return
    live = [state.instance for state in group.instance_states if state.instance.state != "terminated"]
    wanted = on_demand_share(policy, len(live))
    on_demand = [i for i in live if getattr(i, "lifecycle", None) != "spot"]
    # Oldest first keep their purchase option; the newest launches take what is missing.
    for instance in on_demand[wanted:]:
        instance.lifecycle = "spot"


def install_mixed_instance_purchases() -> None:
    """Idempotent, for every moto server of the process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        launch = FakeAutoScalingGroup.replace_autoscaling_group_instances

        def replace_autoscaling_group_instances(
            group: FakeAutoScalingGroup, count_needed: int, propagated_tags: dict[str, str]
        ) -> None:
            launch(group, count_needed, propagated_tags)
            _mark_purchases(group)

        setattr(FakeAutoScalingGroup, LAUNCH_METHOD, replace_autoscaling_group_instances)
        _installed = True
