"""How many of a spot group's replicas stay on-demand: the fewest (never below the workload's minimum)
such that losing the largest correlated spot pool still leaves the peak served. The group balances its
instances across the replicas' Availability Zones and one zone's pool can be reclaimed at once, so the
largest pool is one zone's share of the spot replicas, rounded up. Shared by spot migration, which builds
the group, and right-sizing, which picks the type the group will then run on, with the rule for which types
spot is worth running on."""

import math
from collections.abc import Iterable

from pydantic import BaseModel

from optiinfra.domain.fleet import Instance, InstanceType


class OnDemandBase(BaseModel):
    """The split of a group's replicas, and the largest pool a reclaim takes."""

    on_demand: int
    spot: int
    largest_pool: int


def on_demand_base(replicas: int, peak_replicas: int, zones: int, minimum: int) -> OnDemandBase:
    """The split for `replicas` spread over `zones` zones whose peak needs `peak_replicas`; every replica
    on-demand when no split survives a reclaim."""
    for on_demand in range(min(replicas, minimum), replicas + 1):
        spot = replicas - on_demand
        largest = math.ceil(spot / max(1, zones))
        if replicas - largest >= peak_replicas:
            return OnDemandBase(on_demand=on_demand, spot=spot, largest_pool=largest)
    return OnDemandBase(on_demand=replicas, spot=0, largest_pool=0)


def spot_eligible_type(instance_type: InstanceType, max_interruption_bucket: int) -> bool:
    """Spot is worth it on this type: priced, interrupted no more often than the bucket allows, and
    cheaper than on-demand."""
    return (
        instance_type.spot_hourly_usd is not None
        and instance_type.spot_interruption_bucket is not None
        and instance_type.spot_interruption_bucket <= max_interruption_bucket
        and instance_type.spot_hourly_usd < instance_type.on_demand_hourly_usd
    )


def group_spot_price(types: Iterable[InstanceType]) -> float | None:
    """What a spot replica of a group drawing from `types` costs per hour, to be safe: the dearest of
    their spot prices (on-demand where a type has none); None for no types."""
    return max((t.spot_hourly_usd or t.on_demand_hourly_usd for t in types), default=None)


def replica_zones(running: list[Instance]) -> int:
    """The Availability Zones (else subnets) the replicas run in."""
    return len({i.availability_zone or i.subnet_id or "" for i in running})
