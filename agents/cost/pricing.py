"""Monthly cost arithmetic shared by the cost strategies."""

from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import InstanceType

HOURS_PER_MONTH = 730.0


def hourly_price(instance_type: InstanceType, lifecycle: PurchaseOption) -> float:
    return instance_type.hourly_price(lifecycle)


def monthly(hourly_usd: float) -> float:
    return hourly_usd * HOURS_PER_MONTH
