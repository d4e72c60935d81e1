"""Monthly cost arithmetic shared by the cost strategies."""

HOURS_PER_MONTH = 730.0


def monthly(hourly_usd: float) -> float:
    return hourly_usd * HOURS_PER_MONTH
