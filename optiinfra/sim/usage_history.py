"""The billing history of the twin's fleet: the demo fleet has run in its current shape for months, which
is the history a reservation is sized on. A real fleet builds the same records one hour at a time through
the collection pipeline."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import Instance
from optiinfra.domain.series import floor_to_period
from optiinfra.metrics.store import CostSample

USAGE_HISTORY_DAYS = 90


def past_cost_samples(
    customer_id: str,
    instances: Sequence[Instance],
    catalog: PriceCatalog,
    region: str,
    end: datetime,
    days: int = USAGE_HISTORY_DAYS,
) -> list[CostSample]:
    """One hourly cost record per running instance for each of the `days` before `end` (exclusive)."""
    last = floor_to_period(end, 3600)
    hours = [last - timedelta(hours=n) for n in range(days * 24, 0, -1)]
    rows: list[CostSample] = []
    for instance in instances:
        if instance.state != "running":
            continue
        price = catalog.get(instance.instance_type, region).hourly_price(instance.lifecycle)
        rows.extend(
            CostSample(
                customer_id=customer_id,
                instance_id=instance.instance_id,
                instance_type=instance.instance_type,
                lifecycle=instance.lifecycle,
                hour=hour,
                hourly_usd=price,
            )
            for hour in hours
        )
    return rows
