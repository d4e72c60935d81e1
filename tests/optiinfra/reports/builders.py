"""Window statistics of one replica with only what the reports read set; the rest zero or unmeasured."""

from datetime import datetime, timedelta

from optiinfra.metrics.windows import WindowStats

_UNMEASURED = {
    f"{name}_{stat}": None
    for name, stats in (
        ("ttft", ("mean", "p50", "p90", "p95", "p99")),
        ("itl", ("mean", "p50", "p90", "p95", "p99")),
        ("e2e", ("mean", "p50", "p95", "p99")),
        ("queue", ("mean", "p50", "p95", "p99")),
    )
    for stat in stats
}


def window_stats(
    replica: str,
    start: datetime,
    *,
    customer_id: str = "acme",
    workload_id: str = "chat",
    prompt_tokens: float = 300.0,
    generation_tokens: float = 100.0,
    requests: float = 2.0,
    ttft_p95: float | None = None,
    itl_p95: float | None = None,
) -> WindowStats:
    return WindowStats.model_validate(
        _UNMEASURED
        | {
            "customer_id": customer_id,
            "workload_id": workload_id,
            "replica": replica,
            "model_name": "m",
            "window_start": start,
            "window_end": start + timedelta(seconds=60),
            "counter_reset": False,
            "requests": requests,
            "prompt_tokens": prompt_tokens,
            "generation_tokens": generation_tokens,
            "preemptions": 0.0,
            "prefix_queries": prompt_tokens,
            "prefix_hits": prompt_tokens / 4,
            "errors": 0.0,
            "aborts": 0.0,
            "request_rate": requests / 60,
            "prompt_tps": prompt_tokens / 60,
            "generation_tps": generation_tokens / 60,
            "preemption_rate": 0.0,
            "prefix_hit_rate": 0.25,
            "error_rate": 0.0,
            "ttft_p95": ttft_p95,
            "itl_p95": itl_p95,
            "running": 0.0,
            "waiting": 0.0,
            "kv_usage": 0.1,
        }
    )
