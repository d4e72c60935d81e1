"""The configured metrics store: a ClickHouse server when OPTIINFRA_CLICKHOUSE_URL is set, else chdb."""

import clickhouse_connect

from optiinfra.metrics.store import ChdbMetricsStore, ClickHouseMetricsStore, SqlMetricsStore
from optiinfra.settings import Settings


def open_metrics_store(settings: Settings) -> SqlMetricsStore:
    if settings.clickhouse_url:
        client = clickhouse_connect.get_client(dsn=settings.clickhouse_url)
        return ClickHouseMetricsStore(client, ttl_days=settings.metrics_retention_days)
    path = settings.state_dir / "metrics"
    path.mkdir(parents=True, exist_ok=True)
    return ChdbMetricsStore(path, ttl_days=settings.metrics_retention_days)
