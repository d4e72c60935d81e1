"""The one place that reads the environment. Every variable is `OPTIINFRA_<FIELD>`, except the
Temporal connection, which also honours Temporal's own `TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE`."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STATE_DIR = Path(".optiinfra")
DEFAULT_PORTAL_DIR = Path(__file__).resolve().parents[1] / "portal" / "dist"
"""Where `make portal` builds the web console, beside the package in a checkout (not the working dir)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPTIINFRA_", env_file=".env", extra="ignore")

    state_dir: Path = Field(default=DEFAULT_STATE_DIR, description="Embedded mode: databases and logs")
    peer_envs_dir: Path = Field(
        default=Path(".venv-peers"),
        description="Benchmarks: one environment per peer (Dynamo's planner, AIBrix's optimizer)",
    )
    data_dir: Path = Field(
        default=Path("../shared/data"), description="Real public traces and price data (read only)"
    )

    # Relational store. Empty means a SQLite file in state_dir.
    database_url: str = ""

    # Workflow engine. Empty address means: start the embedded dev server.
    temporal_address: str = Field(
        default="", validation_alias=AliasChoices("OPTIINFRA_TEMPORAL_ADDRESS", "TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = Field(
        default="default", validation_alias=AliasChoices("OPTIINFRA_TEMPORAL_NAMESPACE", "TEMPORAL_NAMESPACE")
    )
    temporal_tls_cert_path: Path | None = None
    temporal_tls_key_path: Path | None = None
    temporal_tls_ca_path: Path | None = None
    temporal_api_key: SecretStr | None = None
    temporal_task_queue: str = "optiinfra"
    temporal_ui_url: str | None = Field(
        default=None,
        description="The Temporal UI the web console links runs to, e.g. http://127.0.0.1:8233",
    )
    embedded_temporal_port: int = 7233
    embedded_temporal_ui_port: int = 8233

    # Cloud. Empty endpoint means real AWS; the embedded twin sets it to its moto server.
    aws_region: str = "us-east-1"
    aws_endpoint_url: str = ""
    embedded_cloud_port: int = 5055
    twin_window_seconds: float = Field(default=15.0, gt=0, description="Embedded twin: one window per this")

    # Kubernetes, for workloads that run as Deployments. Empty URL: the kubeconfig (KUBECONFIG or
    # ~/.kube/config, optionally a named context), or the in-cluster service account when running in a pod.
    # The embedded twin sets the URL to its Kubernetes-compatible endpoint.
    prefix_trace_dir: Path | None = Field(
        default=None,
        description="Per-workload prefix traces (Mooncake JSON lines) at <dir>/<customer>/<workload>.jsonl",
    )
    model_price_table: Path | None = Field(
        default=None,
        description="JSON table of model token prices and context windows; unset: the bundled table",
    )
    performance_reactive_autoscaler: bool = Field(
        default=False,
        description="The Performance agent offers a HorizontalPodAutoscaler on vLLM's running requests to "
        "Deployments that have none (needs a Prometheus adapter or KEDA serving the gauge per pod)",
    )
    kube_api_url: str = Field(default="", description="e.g. https://my-cluster:6443; empty: kubeconfig")
    kube_api_token: SecretStr | None = Field(default=None, description="Bearer token for kube_api_url")
    kube_context: str = Field(default="", description="kubeconfig context; empty: the current one")
    kube_in_cluster: bool = Field(default=False, description="Use the pod's service account")
    embedded_kube_port: int = 6443

    # Metrics store. Empty URL means chdb (embedded ClickHouse) in state_dir.
    clickhouse_url: str = Field(default="", description="e.g. http://user:pass@clickhouse:8123/")
    metrics_interval_seconds: int = Field(default=60, gt=0, description="Metrics collection schedule")
    metrics_retention_days: int = Field(default=90, gt=0)
    vllm_metrics_port: int = Field(default=8000, description="Port of vLLM's /metrics on fleet instances")
    # vLLM window statistics from a Prometheus that already scrapes the replicas, instead of scraping
    # them. Empty means scrape. The rate window is metrics_interval_seconds, so Prometheus must scrape
    # vLLM at least twice per interval. Series are matched to instances by private IP in the label
    # named here, as Prometheus's `instance="<ip>:<port>"`.
    prometheus_url: str = Field(default="", description="e.g. http://prometheus:9090")
    prometheus_instance_label: str = "instance"

    # Regression defense: the `optiinfra/regression-watch` Schedule compares every workload's last hour
    # with the week before it; p99 latency more than this fraction up, or the error rate more than this
    # many percentage points up, is a regression (too few requests on either side: not judged). Our change
    # to the workload within the attribution period is taken as its cause and rolled back.
    regression_watch_interval_seconds: int = Field(default=3600, gt=0, description="Regression watch")
    regression_p99_increase: float = Field(default=0.20, gt=0)
    regression_error_rate_points: float = Field(default=1.0, gt=0)
    regression_min_requests: float = Field(default=50.0, ge=0)
    regression_attribution_seconds: int = Field(default=24 * 3600, gt=0)

    # Observability. Traces go by OTLP/HTTP to the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    # OTEL_EXPORTER_OTLP_ENDPOINT when set (with the other OTEL_* variables: headers, service name,
    # sampler), else to this base URL; none of them set: no tracer provider, no exporter.
    otlp_endpoint: str = Field(default="", description="OTLP/HTTP base URL, e.g. http://collector:4318")
    log_format: Literal["json", "text"] | None = Field(
        default=None, description="Log lines on stderr; unset: json in the production profile, else text"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None = Field(
        default=None, description="Unset: INFO, and WARNING for `optiinfra run` (its report is on stdout)"
    )

    fleet_metrics_refresh_seconds: float = Field(
        default=30.0,
        ge=0,
        description=(
            "The API's /metrics reads the fleet's spend, SLO attainment, last changes and approval queues "
            "from the stores at most this often, seconds (0: on every scrape)"
        ),
    )
    # Task queues by kind of work (workflows.task_queues): which kinds `optiinfra worker` runs, and how many
    # activities a worker of each kind runs at once.
    worker_kinds: str = Field(
        default="all",
        description=(
            "Comma-separated kinds `optiinfra worker` runs: orchestration, cloud, analysis, llm, metrics; "
            "`all` for every kind in one process"
        ),
    )
    worker_orchestration_slots: int = Field(default=100, gt=0)
    worker_cloud_slots: int = Field(default=16, gt=0, description="Cloud and Kubernetes calls at once")
    worker_analysis_slots: int = Field(
        default=2, gt=0, description="Analyzers at once (CPU-bound: about the cores)"
    )
    worker_llm_slots: int = Field(default=8, gt=0)
    worker_metrics_slots: int = Field(default=32, gt=0)
    worker_workflow_task_slots: int = Field(
        default=8,
        ge=2,
        description=(
            "Workflow tasks an orchestration worker runs at once: a few, so that a backlog waits on the "
            "server, where a person's decision goes ahead of scans' runs; at least 2, as with one a long "
            "poll of the worker's sticky queue holds the only slot while the shared queue waits"
        ),
    )
    cloud_calls_per_second: float = Field(
        default=10.0,
        ge=0,
        description="AWS API calls a second per account and region, per worker process (0: no limit)",
    )
    kube_calls_per_second: float = Field(
        default=20.0,
        ge=0,
        description="Kubernetes API calls a second per cluster, per worker process (0: no limit)",
    )
    worker_metrics_address: str | None = Field(
        default=None,
        description=(
            "host:port where a worker serves Prometheus /metrics (optiinfra_* and the Temporal SDK's "
            "temporal_*); unset: 0.0.0.0:9464 for `optiinfra worker`, 127.0.0.1:9464 for `optiinfra up` (a "
            "free port if that is taken), a free loopback port for a throwaway stack; empty: no endpoint"
        ),
    )

    # Control-plane API.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_token: SecretStr | None = Field(default=None, description="Bearer token; generated when unset")
    portal_dir: Path = Field(
        default=DEFAULT_PORTAL_DIR, description="The built web console the API serves at /, and /docs' assets"
    )

    # Privacy tier 3 (opt-in per customer): prompt content is stored encrypted with this key, made by
    # `cryptography.fernet.Fernet.generate_key()`. Losing it makes the stored content unreadable.
    prompt_encryption_key: SecretStr | None = Field(
        default=None,
        description="Fernet key for tier-3 prompt content; without it tier-3 storage is refused",
    )

    # Customers' connections (their AWS role's external id, cluster and Prometheus tokens) are sealed at rest
    # under a master key: a Fernet key here, or a KMS key (data keys wrapped by KMS in `aws_region`).
    connection_key: SecretStr | None = Field(
        default=None, description="Fernet master key for customers' connection secrets"
    )
    connection_kms_key_id: str = Field(default="", description="KMS key id or ARN; preferred when set")
    connection_kms_endpoint_url: str = Field(default="", description="Only for an alternative KMS endpoint")

    # Language models: OpenAI-compatible endpoints in three tiers, cheapest first. A tier is configured
    # when both its URL and model are set; with none configured (the default) rules answer every task.
    # Prices are USD per 1,000 tokens, for the cost recorded per workflow and the daily budget.
    llm_small_url: str = Field(default="", description="e.g. http://vllm-small:8000/v1")
    llm_small_model: str = ""
    llm_small_api_key: SecretStr | None = None
    llm_small_input_usd_per_1k: float = Field(default=0.0, ge=0)
    llm_small_output_usd_per_1k: float = Field(default=0.0, ge=0)
    llm_medium_url: str = ""
    llm_medium_model: str = ""
    llm_medium_api_key: SecretStr | None = None
    llm_medium_input_usd_per_1k: float = Field(default=0.0, ge=0)
    llm_medium_output_usd_per_1k: float = Field(default=0.0, ge=0)
    llm_frontier_url: str = ""
    llm_frontier_model: str = ""
    llm_frontier_api_key: SecretStr | None = None
    llm_frontier_input_usd_per_1k: float = Field(default=0.0, ge=0)
    llm_frontier_output_usd_per_1k: float = Field(default=0.0, ge=0)
    llm_timeout_seconds: float = Field(default=20.0, gt=0, description="Whole call; then rules answer")
    llm_daily_budget_usd: float = Field(
        default=5.0, ge=0, description="Per customer and UTC day; once spent, rules answer"
    )
    llm_budget_downgrade_fraction: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of the daily budget after which tasks go to the next cheaper configured tier",
    )
    llm_max_completion_tokens: int = Field(
        default=1024, gt=0, description="Sent as max_tokens on every call; bounds the cost estimate"
    )
    llm_breaker_failure_threshold: int = Field(default=3, gt=0, description="Failures in a row opening it")
    llm_breaker_cooldown_seconds: float = Field(default=60.0, gt=0, description="Open before one trial")
    # Semantic answer cache: a question close enough to an answered one (same task, tier, schema, customer
    # and figures) gets that answer, revalidated. Embeddings come from an OpenAI-compatible endpoint
    # when its URL and model are set, otherwise from local feature hashing (no model download).
    llm_semantic_cache_enabled: bool = True
    llm_semantic_cache_threshold: float = Field(
        default=0.97, gt=0, le=1, description="Least cosine similarity that counts as the same question"
    )
    llm_embedding_url: str = Field(default="", description="e.g. http://vllm-embed:8000/v1")
    llm_embedding_model: str = ""
    llm_embedding_api_key: SecretStr | None = None

    # Vector store. Empty URL means local files under qdrant_path (default <state_dir>/qdrant), which one
    # process at a time may open.
    qdrant_url: str = Field(default="", description="e.g. http://qdrant:6333")
    qdrant_api_key: SecretStr | None = None
    qdrant_path: Path | None = Field(default=None, description="Local mode folder; default state_dir/qdrant")
    # Learning from outcomes: past outcomes of the same customer, agent and type whose feature vectors are
    # at least this similar (cosine) move a new recommendation's confidence by up to the shift.
    learning_max_confidence_shift: float = Field(default=0.2, ge=0, le=1)
    learning_min_similarity: float = Field(default=0.9, gt=-1, le=1)
    learning_neighbours: int = Field(default=10, gt=0, description="Most similar past outcomes weighed")

    # Execution timing. The embedded profile shortens everything so a demo finishes in a minute.
    profile: Literal["embedded", "production"] = "embedded"
    approval_timeout_seconds: int | None = None
    verify_delay_seconds: int | None = None
    regression_watch_seconds: int | None = Field(
        default=None, ge=0, description="Watch a verified change this long before judging it (0: no watch)"
    )
    regression_baseline_seconds: int = Field(default=24 * 3600, gt=0)
    activity_timeout_seconds: int = 600
    activity_heartbeat_seconds: int = 30
    activity_max_attempts: int = 5
    lock_poll_seconds: int = Field(
        default=30, gt=0, description="How often a run waiting for its workload's lock asks again"
    )
    lock_wait_seconds: int | None = Field(
        default=None,
        ge=0,
        description=(
            "How long a run waits for another optimization of its workload to finish changing it; unset: "
            "until the other's lease ends (its steps, verification and watch at their timeouts)"
        ),
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: object) -> object:
        return (value.strip().upper() or None) if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _format_any_case(cls, value: object) -> object:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @property
    def embedded_engine(self) -> bool:
        return not self.temporal_address

    @property
    def embedded_cloud(self) -> bool:
        return not self.aws_endpoint_url and self.profile == "embedded"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'optiinfra.db'}"

    @property
    def effective_approval_timeout_seconds(self) -> int:
        if self.approval_timeout_seconds is not None:
            return self.approval_timeout_seconds
        return 3600 if self.profile == "embedded" else 72 * 3600

    @property
    def effective_verify_delay_seconds(self) -> int:
        if self.verify_delay_seconds is not None:
            return self.verify_delay_seconds
        return 3 if self.profile == "embedded" else 2 * 3600

    @property
    def effective_regression_watch_seconds(self) -> int:
        if self.regression_watch_seconds is not None:
            return self.regression_watch_seconds
        return 3 if self.profile == "embedded" else 3600


@lru_cache
def get_settings() -> Settings:
    return Settings()
