"""Memory pressure of a workload's replicas, from what vLLM and Kubernetes report: KV-cache usage
(`vllm:kv_cache_usage_perc`), preemptions (sequences evicted from the KV cache and recomputed) and requests
queueing behind a full cache make the GPU's KV pressure: each signal a probability-like component in
[0, 1], combined as independent risks, 1 - prod(1 - c). Containers killed for memory (OOMKilled) are the
host's: the kernel kills the process for host RAM (a host KV tier, CPU swap, tokenizer workers), never for
GPU memory, which vLLM preallocates. They are counted apart and never move GPU KV settings."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from optiinfra.domain.kube import PodState
from optiinfra.domain.performance import WorkloadWindow

RECENT = timedelta(hours=1)
KV_USAGE_CALM = 0.70
"""Below this share of the KV cache in use there is no memory pressure to speak of."""
KV_USAGE_FULL = 0.95
"""vLLM starts preempting when the cache cannot grow the running sequences: this is where that begins."""
PREEMPTIONS_PER_1K_SEVERE = 10.0
"""One request in a hundred recomputed from scratch is a replica thrashing its cache."""
QUEUED_SHARE_SEVERE = 0.25
"""A quarter of the requests in a replica waiting (not running) means the cache, not the GPU, is the limit."""
OOM_REASONS = frozenset({"OOMKilled"})
LEVELS = ((0.8, "critical"), (0.6, "high"), (0.3, "elevated"), (0.0, "low"))


@dataclass(frozen=True)
class MemoryPressure:
    score: float
    kv_usage_max: float
    preemptions_per_1k: float
    queued_share: float
    oom_events: int
    reasons: tuple[str, ...]

    @property
    def level(self) -> str:
        return next(name for floor, name in LEVELS if self.score >= floor)

    def describe(self) -> str:
        detail = "; ".join(self.reasons) if self.reasons else "no signal of pressure"
        host = f"; host memory: {self.oom_events} pod(s) last stopped OOMKilled" if self.oom_events else ""
        return f"KV memory pressure {self.level} ({self.score:.2f}): {detail}{host}"


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def memory_pressure(
    windows: Sequence[WorkloadWindow], pods: Sequence[PodState], now: datetime
) -> MemoryPressure:
    """The last hour's KV pressure, and the vLLM containers whose last stop was a host-memory kill."""
    recent = [w for w in windows if w.start >= now - RECENT] or list(windows[-6:])
    kv = max((w.kv_usage_max for w in recent), default=0.0)
    requests = sum(w.requests for w in recent)
    preemptions = sum(w.preemptions for w in recent)
    per_1k = 1000.0 * preemptions / requests if requests > 0 else 0.0
    running = sum(w.running for w in recent)
    waiting = sum(w.waiting for w in recent)
    queued = waiting / (running + waiting) if running + waiting > 0 else 0.0
    ooms = sum(1 for pod in pods if pod.last_termination_reason in OOM_REASONS)
    components = {
        "kv": _clamp((kv - KV_USAGE_CALM) / (KV_USAGE_FULL - KV_USAGE_CALM)),
        "preemptions": _clamp(per_1k / PREEMPTIONS_PER_1K_SEVERE),
        "queue": _clamp(queued / QUEUED_SHARE_SEVERE),
    }
    remaining = 1.0
    for value in components.values():
        remaining *= 1.0 - value
    reasons: list[str] = []
    if components["kv"] > 0:
        reasons.append(f"KV cache up to {kv:.0%} full")
    if components["preemptions"] > 0:
        reasons.append(f"{per_1k:.1f} preemptions per 1,000 requests")
    if components["queue"] > 0:
        reasons.append(f"{queued:.0%} of in-flight requests waiting")
    return MemoryPressure(
        score=1.0 - remaining,
        kv_usage_max=kv,
        preemptions_per_1k=per_1k,
        queued_share=queued,
        oom_events=ooms,
        reasons=tuple(reasons),
    )
