"""Replays a workload's recent prefix trace through kvtier's eviction policies at a range of cache sizes:
the what-if hit-rate curves the Resource agent sizes KV tiers on. Pure computation over the trace."""

import math
from collections.abc import Sequence

from kvtier import make_policy, replay, working_set
from kvtier.trace import BLOCK_TOKENS, TraceRequest
from optiinfra.domain.percentiles import nearest_rank
from optiinfra.domain.resource import PrefixCacheProfile

PROFILE_POLICIES = ("lru", "s3fifo")
"""LRU, what vLLM's own prefix cache and CPU offloading evict by, and the adaptive policy kvtier would run."""
CAPACITY_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 1 / 3, 0.5, 0.75)
"""Cache sizes replayed, as shares of the trace's working set: log-spaced where the curve bends."""


def profile_prefix_cache(
    requests: Sequence[TraceRequest],
    *,
    source: str,
    block_tokens: int = BLOCK_TOKENS,
    policies: Sequence[str] = PROFILE_POLICIES,
    fractions: Sequence[float] = CAPACITY_FRACTIONS,
) -> PrefixCacheProfile:
    """The hit-rate curves and context lengths of `requests` (a prefix trace in arrival order)."""
    if not requests:
        raise ValueError(f"the prefix trace {source} has no requests")
    chains = [request.hash_ids for request in requests]
    distinct = max(1, working_set(chains))
    capacities = sorted({max(1, math.floor(distinct * f)) for f in fractions if f > 0} - {distinct})
    unlimited = replay(chains, make_policy("lru", distinct))
    curves = {
        policy: [replay(chains, make_policy(policy, capacity)).hit_rate for capacity in capacities]
        for policy in policies
    }
    contexts = sorted(request.input_length + request.output_length for request in requests)
    return PrefixCacheProfile(
        source=source,
        requests=len(requests),
        block_tokens=block_tokens,
        blocks_requested=max(1, unlimited.accesses),
        working_set_blocks=distinct,
        unlimited_hit_rate=unlimited.hit_rate,
        capacities=capacities,
        hit_rates=curves,
        context_p50_tokens=nearest_rank(contexts, 0.50),
        context_p95_tokens=nearest_rank(contexts, 0.95),
        context_p99_tokens=nearest_rank(contexts, 0.99),
        context_max_tokens=contexts[-1],
    )
