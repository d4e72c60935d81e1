"""Replays a workload's recent prefix trace through kvtier's eviction policies at a range of cache sizes:
the what-if hit-rate curves the Resource agent sizes KV tiers on. Pure computation over the trace.

Beside the pooled curve (one cache holding all the blocks), the trace is split over the workload's
replicas as each routing would send it, and every replica's cache replayed on its own share: under
round-robin (or random, or least-request: none has prefix affinity) every cache sees a slice of each
conversation and holds its own copy of shared prefixes; a prefix-aware router sends a request to the
replica with the longest cached prefix of it, unless that replica already took more than its share."""

import math
from collections.abc import Sequence

from kvtier import make_policy, replay, working_set
from kvtier.trace import BLOCK_TOKENS, TraceRequest
from optiinfra.domain.enums import RequestRouting
from optiinfra.domain.percentiles import nearest_rank
from optiinfra.domain.resource import PrefixCacheProfile

PROFILE_POLICIES = ("lru", "s3fifo")
"""LRU, what vLLM's own prefix cache and CPU offloading evict by, and the adaptive policy kvtier would run."""
CAPACITY_FRACTIONS = (0.02, 0.05, 0.1, 0.2, 1 / 3, 0.5, 0.75)
"""Cache sizes replayed, as shares of the trace's working set: log-spaced where the curve bends."""
ROUTINGS = (RequestRouting.ROUND_ROBIN, RequestRouting.PREFIX_AWARE)
"""Routings replayed over the replicas; least-request, with no prefix affinity either, reads as
round-robin."""
LOAD_SLACK = 0.1
"""A prefix-aware router sends a request to its best-matching replica only while that replica's requests
stay within this share above the least loaded one's (plus one request)."""


def route_requests(
    chains: Sequence[Sequence[int]], replicas: int, routing: RequestRouting
) -> list[list[Sequence[int]]]:
    """The chains each replica receives, in arrival order."""
    streams: list[list[Sequence[int]]] = [[] for _ in range(replicas)]
    if not routing.prefix_affine:
        for index, chain in enumerate(chains):
            streams[index % replicas].append(chain)
        return streams
    seen: list[set[int]] = [set() for _ in range(replicas)]
    for chain in chains:
        lightest = min(len(stream) for stream in streams)
        bound = lightest * (1 + LOAD_SLACK) + 1
        allowed = [r for r in range(replicas) if len(streams[r]) <= bound]
        best = max(allowed, key=lambda r: (_matched_prefix(chain, seen[r]), -len(streams[r]), -r))
        streams[best].append(chain)
        seen[best].update(chain)
    return streams


def _matched_prefix(chain: Sequence[int], cached: set[int]) -> int:
    matched = 0
    for block in chain:
        if block not in cached:
            break
        matched += 1
    return matched


def routed_hit_rate(streams: Sequence[Sequence[Sequence[int]]], policy: str, capacity: int) -> float:
    """Fleet hit rate when each stream's cache holds `capacity` blocks."""
    hits = accesses = 0
    for stream in streams:
        if stream:
            result = replay(stream, make_policy(policy, max(1, capacity)))
            hits += result.hits
            accesses += result.accesses
    return hits / accesses if accesses else 0.0


def profile_prefix_cache(
    requests: Sequence[TraceRequest],
    *,
    source: str,
    block_tokens: int = BLOCK_TOKENS,
    policies: Sequence[str] = PROFILE_POLICIES,
    fractions: Sequence[float] = CAPACITY_FRACTIONS,
    replicas: int = 1,
    routings: Sequence[RequestRouting] = ROUTINGS,
) -> PrefixCacheProfile:
    """The hit-rate curves and context lengths of `requests` (a prefix trace in arrival order); with more
    than one replica, also split over them by each of `routings`."""
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
    routed: dict[RequestRouting, dict[str, list[float]]] = {}
    routed_unlimited: dict[RequestRouting, float] = {}
    if replicas > 1:
        for routing in routings:
            streams = route_requests(chains, replicas, routing)
            routed[routing] = {
                policy: [routed_hit_rate(streams, policy, capacity // replicas) for capacity in capacities]
                for policy in policies
            }
            routed_unlimited[routing] = routed_hit_rate(streams, "lru", distinct)
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
        replicas=replicas,
        routed_hit_rates=routed,
        routed_unlimited_hit_rates=routed_unlimited,
    )
