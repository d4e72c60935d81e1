"""The worker's own Prometheus endpoint: a Temporal Runtime whose core serves /metrics at one address, for
the SDK's metrics (`temporal_*`) and OptiInfra's (`optiinfra_*`), which the workflows and activities emit
through the SDK's metric meters so that both land on the same endpoint.

The workflow meter is replay safe: a workflow replayed on another worker, or after a restart, does not
count again what its history already holds. Counters are exported with `_total`, durations in seconds
with `_seconds` (`PrometheusConfig` adds both suffixes).

One Runtime per endpoint: a client connected on it, and every worker built from that client, report there.
The endpoint closes when the Runtime is dropped (no client or worker left on it)."""

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

DEFAULT_WORKER_METRICS_PORT = 9464
"""`optiinfra worker` serves its metrics here (on every interface) unless told otherwise; `optiinfra up`
on loopback."""

# Names as created; counters are exported with `_total` appended.
OPTIMIZATIONS_STARTED = "optiinfra_optimizations_started"
OPTIMIZATIONS_FINISHED = "optiinfra_optimizations_finished"
SAVINGS_EXECUTED_USD = "optiinfra_savings_executed_usd"
COMPENSATIONS = "optiinfra_compensations"
LLM_TOKENS = "optiinfra_llm_tokens"
LLM_COST_USD = "optiinfra_llm_cost_usd"
LLM_CIRCUIT_BREAKER_STATE = "optiinfra_llm_circuit_breaker_state"
SCHEDULE_LAG_SECONDS = "optiinfra_schedule_lag_seconds"
ANALYSIS_CPU_SECONDS = "optiinfra_analysis_cpu_seconds"

LLM_COST_BUCKETS_USD = (0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
"""One answer's cost, all its calls together: fractions of a cent for a small model, dollars for a long
frontier answer."""

SCHEDULE_LAG_BUCKETS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
"""From a Schedule's nominal tick to the first task of the run it started: a second or two when the
workers keep up, minutes when their task queue backs up."""

ANALYSIS_CPU_BUCKETS_S = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""One analysis: milliseconds for a rule over a bare snapshot, seconds for an integer program or a
forecast fit."""


def prometheus_runtime(bind_address: str) -> Runtime:
    """A Runtime serving Prometheus at `http://<bind_address>/metrics` (e.g. "127.0.0.1:9464"). Raises
    if the address cannot be bound."""
    return Runtime(
        telemetry=TelemetryConfig(
            metrics=PrometheusConfig(
                bind_address=bind_address,
                counters_total_suffix=True,
                unit_suffix=True,
                durations_as_seconds=True,
                histogram_bucket_overrides={
                    LLM_COST_USD: list(LLM_COST_BUCKETS_USD),
                    SCHEDULE_LAG_SECONDS: list(SCHEDULE_LAG_BUCKETS_S),
                    ANALYSIS_CPU_SECONDS: list(ANALYSIS_CPU_BUCKETS_S),
                },
            )
        )
    )


def metrics_url(bind_address: str) -> str:
    """Where a scraper on this machine reads what `bind_address` serves."""
    host, _, port = bind_address.rpartition(":")
    if host in ("0.0.0.0", "", "[::]", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}/metrics"


def worker_metrics_address(configured: str | None, default: str) -> str | None:
    """The address to serve on: the configured one (OPTIINFRA_WORKER_METRICS_ADDRESS), `default` when it is
    unset, None (no endpoint) when it is set empty."""
    if configured is None:
        return default
    return configured.strip() or None
