"""The billing view of a workload's history: hourly cost records folded into instance counts per hour,
type and purchase option."""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from optiinfra.domain.enums import PurchaseOption
from optiinfra.domain.fleet import UsageHour
from optiinfra.metrics.store import CostSample


def usage_hours(samples: Sequence[CostSample]) -> list[UsageHour]:
    """One row per (hour, type, purchase option) with the number of instances that cost money in it."""
    counts: Counter[tuple[datetime, str, PurchaseOption]] = Counter(
        (sample.hour, sample.instance_type, sample.lifecycle) for sample in samples
    )
    return [
        UsageHour(hour=hour, instance_type=instance_type, lifecycle=lifecycle, instances=count)
        for (hour, instance_type, lifecycle), count in sorted(counts.items())
    ]
