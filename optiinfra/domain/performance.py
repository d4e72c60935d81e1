"""What the Performance agent reads of a workload: its vLLM latency windows, request-rate history and the
per-replica spread of its load."""

from datetime import datetime, timedelta

from pydantic import BaseModel, Field


class WorkloadWindow(BaseModel):
    """All replicas of a workload over one period. Latency quantiles are the worst replica's: the p95 of
    requests pooled over replicas is never above the largest per-replica p95, so a window that meets an
    objective here meets it for the pooled requests too. Means are exact (each histogram's sum over its
    count), pooled over the replicas."""

    start: datetime
    seconds: float = Field(gt=0)
    replicas: int = Field(ge=0, description="Replicas that reported in the period")
    requests: float = Field(ge=0)
    request_rate: float = Field(ge=0, description="Requests per second, all replicas together")
    prompt_tokens: float = Field(ge=0)
    generation_tokens: float = Field(ge=0)
    errors: float = Field(ge=0)
    preemptions: float = Field(ge=0)
    ttft_mean: float | None = Field(
        default=None, description="Mean TTFT over the period's requests, all replicas (histogram sum/count)"
    )
    ttft_p95: float | None = None
    ttft_p99: float | None = None
    itl_mean: float | None = Field(
        default=None, description="Mean inter-token gap over the period's output tokens, all replicas"
    )
    itl_p95: float | None = None
    itl_p99: float | None = None
    e2e_p95: float | None = None
    e2e_p99: float | None = None
    queue_p95: float | None = None
    running: float = Field(default=0.0, ge=0, description="Requests in flight at the period's last scrape")
    waiting: float = Field(default=0.0, ge=0, description="Requests queued at the period's last scrape")
    kv_usage_max: float = Field(default=0.0, ge=0)
    prompt_tokens_p95: float | None = Field(
        default=None, description="The busiest replica's p95 prompt length (vllm:request_prompt_tokens)"
    )
    prompt_tokens_p99: float | None = None
    kv_capacity_tokens: float | None = Field(
        default=None,
        description="The smallest replica KV cache in tokens, as the engines report it (cache_config_info)",
    )

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.seconds)

    @property
    def error_rate(self) -> float | None:
        finished = self.requests + self.errors
        return self.errors / finished if finished > 0 else None

    @property
    def mean_prompt_tokens(self) -> float | None:
        return self.prompt_tokens / self.requests if self.requests > 0 else None

    @property
    def mean_output_tokens(self) -> float | None:
        return self.generation_tokens / self.requests if self.requests > 0 else None


class RequestRateHistory(BaseModel):
    """A workload's request rate on an even grid: `values[i]` is the mean requests/s over
    [start + i*interval, start + (i+1)*interval); None where nothing was measured."""

    start: datetime
    interval_seconds: float = Field(gt=0)
    values: list[float | None] = Field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.interval_seconds * len(self.values))

    @property
    def measured(self) -> int:
        return sum(value is not None for value in self.values)


class ReplicaLoad(BaseModel):
    """One replica's share of the workload's traffic over the recent past, for load-balancing advice."""

    replica: str
    instance_type: str | None = None
    request_rate: float = Field(ge=0)
    ttft_p95: float | None = None
    prefix_hit_rate: float | None = None
