"""vLLM metrics: reading replicas (or Prometheus), turning scrapes into window statistics, and keeping
them with instance utilization and costs in ClickHouse."""
