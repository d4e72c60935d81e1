"""A workload's prefix trace replayed through kvtier: the real Mooncake trace gives its published 36.6%
with an unlimited cache, the curves rise with the cache, and a malformed trace is refused by line."""

import json
from pathlib import Path

import pytest

from kvtier.trace import TraceFormatError, load_mooncake
from optiinfra.domain.enums import RequestRouting
from optiinfra.domain.fleet import Workload
from optiinfra.domain.resource import PrefixCacheProfile
from optiinfra.kvcache.profile import LOAD_SLACK, profile_prefix_cache, route_requests
from optiinfra.kvcache.traces import PrefixTraces
from optiinfra.settings import get_settings

TRACE = get_settings().data_dir / "mooncake" / "conversation_trace.jsonl"


def _workload() -> Workload:
    return Workload(customer_id="acme", workload_id="chat", name="Chat", model_name="m", region="us-east-1")


def test_the_real_trace_profile_has_its_ceiling_and_rising_curves() -> None:
    profile = profile_prefix_cache(load_mooncake(TRACE), source=str(TRACE))
    assert profile.unlimited_hit_rate == pytest.approx(0.366, abs=0.001)
    assert profile.working_set_blocks == 182_790
    for rates in profile.hit_rates.values():
        assert rates == sorted(rates)
        assert 0 < rates[0] < rates[-1] <= profile.unlimited_hit_rate
    assert profile.context_p50_tokens <= profile.context_p95_tokens <= profile.context_max_tokens
    # Interpolation stays on the curve and reaches the ceiling at the working set.
    middle = profile.capacities[2]
    assert profile.hit_rate("lru", middle) == pytest.approx(profile.hit_rates["lru"][2])
    assert profile.hit_rate("lru", profile.working_set_blocks) == profile.unlimited_hit_rate
    assert profile.hit_rate("lru", 0) == 0.0
    between = (profile.capacities[2] + profile.capacities[3]) / 2
    assert profile.hit_rates["lru"][2] <= profile.hit_rate("lru", between) <= profile.hit_rates["lru"][3]


async def test_traces_are_found_per_workload_and_a_malformed_one_names_its_line(tmp_path: Path) -> None:
    workload = _workload()
    traces = PrefixTraces(tmp_path)
    assert traces.path_for(workload) == tmp_path / "acme" / "chat.jsonl"
    assert await traces.profile(workload) is None  # no file: nothing to plan on
    path = tmp_path / "acme" / "chat.jsonl"
    path.parent.mkdir()
    rows = [
        {"timestamp": index, "input_length": 1024, "output_length": 10, "hash_ids": [0, 1 + index % 3]}
        for index in range(30)
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    profile = await traces.profile(workload)
    assert profile is not None
    assert profile.requests == 30
    assert profile.working_set_blocks == 4
    path.write_text(path.read_text() + '{"timestamp": 99, "input_length": "long"}\n')
    with pytest.raises(TraceFormatError, match=":31:"):
        await traces.profile(workload)
    assert PrefixTraces(None, {("acme", "chat"): TRACE}).path_for(workload) == TRACE


def test_split_over_replicas_round_robin_halves_the_ceiling_and_prefix_aware_routing_keeps_it(
    mooncake_trace: Path, mooncake_replica_profile: PrefixCacheProfile
) -> None:
    """Four caches fed round-robin each see a slice of every conversation: even unlimited they hit about
    half of what one cache does; a prefix-aware router keeps conversations together and nearly all of it.
    (The profile is `profile_prefix_cache` of the trace over four replicas, made once per session.)"""
    requests = load_mooncake(mooncake_trace)
    profile = mooncake_replica_profile
    assert profile.replicas == 4 and profile.source == str(mooncake_trace)
    spread = profile.routed_unlimited_hit_rates[RequestRouting.ROUND_ROBIN]
    affine = profile.routed_unlimited_hit_rates[RequestRouting.PREFIX_AWARE]
    assert spread < 0.6 * profile.unlimited_hit_rate
    assert affine == pytest.approx(profile.unlimited_hit_rate, abs=0.01)
    middle = profile.capacities[3]
    assert profile.hit_rate("lru", middle, RequestRouting.ROUND_ROBIN) < profile.hit_rate("lru", middle)
    # Least-request has no prefix affinity either: it reads the round-robin replay.
    assert profile.hit_rate("lru", middle, RequestRouting.LEAST_REQUEST) == profile.hit_rate(
        "lru", middle, RequestRouting.ROUND_ROBIN
    )
    # The prefix-aware router stays within its load bound.
    streams = route_requests([r.hash_ids for r in requests], 4, RequestRouting.PREFIX_AWARE)
    sizes = [len(stream) for stream in streams]
    assert sum(sizes) == len(requests) and max(sizes) <= min(sizes) * (1 + LOAD_SLACK) + 2


async def test_an_unchanged_trace_is_replayed_once_and_a_changed_one_again(tmp_path: Path) -> None:
    workload = _workload()
    path = tmp_path / "acme" / "chat.jsonl"
    path.parent.mkdir()
    rows = [
        {"timestamp": i, "input_length": 1024, "output_length": 10, "hash_ids": [0, 1 + i % 3]}
        for i in range(30)
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    traces = PrefixTraces(tmp_path)
    first = await traces.profile(workload, replicas=2)
    assert first is not None and await traces.profile(workload, replicas=2) is first
    assert await traces.profile(workload, replicas=3) is not first  # another split, another replay
    with path.open("a") as handle:
        handle.write(
            json.dumps({"timestamp": 31, "input_length": 1024, "output_length": 10, "hash_ids": [7]}) + "\n"
        )
    again = await traces.profile(workload, replicas=2)
    assert again is not None and again is not first and again.requests == 31
