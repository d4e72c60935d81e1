"""Monthly cost arithmetic shared by the cost strategies."""

from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import InstanceType

HOURS_PER_MONTH = 730.0


def hourly_price(instance_type: InstanceType, lifecycle: PurchaseOption) -> float:
    """The price the instance pays per hour; spot falls back to on-demand when no spot price is known."""
    if lifecycle is PurchaseOption.SPOT and instance_type.spot_hourly_usd is not None:
        return instance_type.spot_hourly_usd
    return instance_type.on_demand_hourly_usd


def monthly(hourly_usd: float) -> float:
    return hourly_usd * HOURS_PER_MONTH
