"""A replica with a fixed number of requests kept in flight (the question `--concurrency` asks)."""

import dataclasses
from itertools import pairwise

import pytest

from optiinfra.capacity.closed_loop import closed_loop_point
from optiinfra.capacity.gpus import A10G, H100
from optiinfra.capacity.models import LLAMA_3_1_8B
from optiinfra.capacity.roofline import (
    ReplicaLoad,
    ServingConfig,
    decode_step_seconds,
    prefill_seconds,
    replica_performance,
    request_overhead_seconds,
)

CONFIG = ServingConfig(A10G, 1, LLAMA_3_1_8B)


def test_one_request_in_flight_waits_for_nothing_and_decodes_alone() -> None:
    alone = closed_loop_point(CONFIG, 1000.0, 200.0, 1.0)

    # Its prefill step also carries the slot it will decode in, hence the percent.
    assert alone.ttft_mean_s == pytest.approx(
        request_overhead_seconds(CONFIG) + prefill_seconds(CONFIG, 1000), rel=0.01
    )
    # No other prompt shares its decode steps: every gap is a plain decode step.
    assert alone.itl_mean_s == pytest.approx(decode_step_seconds(CONFIG, 1, 1100))
    assert alone.requests_per_s == pytest.approx(1 / (alone.ttft_mean_s + 199 * alone.itl_mean_s))
    assert alone.prefill_wait_s == 0.0


def test_more_requests_in_flight_queue_for_prefill_and_serve_more() -> None:
    points = [closed_loop_point(CONFIG, 2000.0, 200.0, float(c)) for c in (1, 2, 4, 8, 12)]

    assert all(a.ttft_mean_s < b.ttft_mean_s for a, b in pairwise(points))
    assert all(a.itl_mean_s < b.itl_mean_s for a, b in pairwise(points))
    assert all(a.requests_per_s < b.requests_per_s for a, b in pairwise(points))
    assert points[-1].prefill_wait_s > 0


def test_a_fractional_concurrency_reads_between_its_whole_neighbours() -> None:
    low, middle, high = (closed_loop_point(CONFIG, 1500.0, 150.0, c) for c in (4.0, 4.5, 5.0))

    assert low.requests_per_s < middle.requests_per_s < high.requests_per_s
    assert low.ttft_mean_s < middle.ttft_mean_s < high.ttft_mean_s


def test_a_closed_loop_has_no_bursts_so_its_ttft_is_below_poisson_arrivals_at_the_same_rate() -> None:
    config = ServingConfig(H100, 1, LLAMA_3_1_8B, max_num_batched_tokens=8192)
    loop = closed_loop_point(config, 3000.0, 200.0, 24.0)
    poisson = replica_performance(config, ReplicaLoad(loop.requests_per_s, 3000.0, 200.0))

    assert loop.ttft_mean_s < poisson.ttft_mean_s


def test_more_requests_than_the_replica_holds_is_refused_with_the_reason() -> None:
    tight = dataclasses.replace(CONFIG, max_num_seqs=4)

    found = closed_loop_point(tight, 500.0, 100.0, 8.0)

    assert not found.served and found.requests_per_s == 0.0
    assert "exceed" in (found.reason or "")
    with pytest.raises(ValueError, match="at least one"):
        closed_loop_point(CONFIG, 500.0, 100.0, 0.5)


def test_without_chunked_prefill_other_prompts_pause_decoding() -> None:
    v0 = dataclasses.replace(CONFIG, chunked_prefill=False)

    alone = closed_loop_point(v0, 2000.0, 200.0, 1.0)
    busy = closed_loop_point(v0, 2000.0, 200.0, 8.0)

    assert alone.itl_mean_s == pytest.approx(decode_step_seconds(v0, 1, 2100))
    assert busy.itl_mean_s > decode_step_seconds(v0, 8, 2100)
