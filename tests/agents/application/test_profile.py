"""Profiling a request log: exact statistics per request type, bounded fixed-grid histograms."""

import math
import random
from datetime import timedelta

import pytest

from agents.application.profile import profile_requests
from optiinfra.domain.application import (
    GENERATED_BIN_UPPER,
    MAX_REQUEST_TYPES,
    OTHER_REQUEST_TYPE,
    SECONDS_PER_MONTH,
    TOKEN_BIN_UPPER,
    bin_index,
    edge_at_or_above,
)
from optiinfra.domain.fleet import WorkloadSnapshot
from tests.agents.application.records import START, records


def test_statistics_and_cells_of_a_small_log() -> None:
    chat = records([(100, 10), (300, 50), (3000, 5), (5000, 15)])
    code = records([(700, 40)], request_type="code", offset_s=240, errors=1)
    profile = profile_requests(chat + code)

    assert profile.requests == 5
    assert profile.start == START and profile.end == START + timedelta(seconds=240)
    assert profile.monthly_factor == pytest.approx(SECONDS_PER_MONTH / 240)
    assert profile.models == {"gpt-4o": 5}
    assert [t.request_type for t in profile.types] == ["chat", "code"]
    assert profile.input_tokens == 9100 and profile.output_tokens == 120

    found = profile.types[0]
    assert found.requests == 4 and found.errors == 0 and found.duration_s == 180
    # Nearest rank: p50 of four values is the 2nd, p90 and above the 4th.
    assert (found.context.p50, found.context.p90, found.context.p95, found.context.max) == (
        300,
        5000,
        5000,
        5000,
    )
    assert found.context.mean == 2100 and found.context.sum == 8400
    assert found.context.std == pytest.approx(math.sqrt((2000**2 + 1800**2 + 900**2 + 2900**2) / 4))
    assert found.total.p50 == 350 and found.total.max == 5015
    assert found.generated.cv == pytest.approx(found.generated.std / 20)
    cells = {(c.context_bin, c.generated_bin): c for c in found.cells}
    # 100 in (0, 256], 10 in (8, 16]; 3000 in (2816, 3072], 5 in (4, 8]; 5000 in (4864, 5120], 15 in (8, 16].
    assert set(cells) == {(1, 5), (2, 9), (12, 4), (20, 5)}
    assert cells[(12, 4)].context_upper == 3072 and cells[(12, 4)].context_lower == 2816
    assert cells[(2, 9)].generated_upper == 64 and cells[(2, 9)].generated_lower == 48
    assert {(b.bin, b.requests, b.tokens) for b in found.total_bins} == {
        (1, 1, 110),
        (2, 1, 350),
        (12, 1, 3005),
        (20, 1, 5015),
    }

    assert profile.types[1].errors == 1 and profile.types[1].error_share == 1.0


def test_bins_and_edges() -> None:
    assert bin_index(0, TOKEN_BIN_UPPER) == 0
    assert bin_index(256, TOKEN_BIN_UPPER) == 1 and bin_index(257, TOKEN_BIN_UPPER) == 2
    assert bin_index(10**18, TOKEN_BIN_UPPER) == len(TOKEN_BIN_UPPER) - 1
    assert bin_index(20, GENERATED_BIN_UPPER) == GENERATED_BIN_UPPER.index(20)
    assert edge_at_or_above(8077) == 8192
    assert edge_at_or_above(22016) == 22528
    assert edge_at_or_above(10**9) is None
    assert all(edge % 256 == 0 for edge in TOKEN_BIN_UPPER[:-1])


def test_an_empty_log_or_one_without_a_time_span_cannot_be_profiled() -> None:
    with pytest.raises(ValueError, match="no request"):
        profile_requests([])
    with pytest.raises(ValueError, match="spans no time"):
        profile_requests(records([(100, 10), (200, 20)], step_s=0))


def test_request_types_beyond_the_limit_are_pooled() -> None:
    log = []
    for index in range(10):
        log += records([(100, 10)] * (10 - index), request_type=f"type-{index}", offset_s=index)
    profile = profile_requests(log)
    assert len(profile.types) == MAX_REQUEST_TYPES
    names = {t.request_type for t in profile.types}
    assert names == {f"type-{i}" for i in range(MAX_REQUEST_TYPES - 1)} | {OTHER_REQUEST_TYPE}
    other = profile.request_type(OTHER_REQUEST_TYPE)
    assert other is not None and other.requests == 3 + 2 + 1
    assert profile.requests == sum(range(1, 11))


def test_the_profile_stays_compact_however_long_the_log() -> None:
    rng = random.Random(7)
    shapes = [(int(rng.lognormvariate(7, 1.5)), int(rng.lognormvariate(4, 1.5))) for _ in range(20_000)]
    profile = profile_requests(records(shapes, step_s=0.5))
    found = profile.types[0]
    assert found.requests == 20_000
    assert len(found.cells) <= len(TOKEN_BIN_UPPER) * len(GENERATED_BIN_UPPER)
    assert len(profile.model_dump_json()) < 200_000


def test_the_profile_travels_in_a_workload_snapshot() -> None:
    profile = profile_requests(records([(100, 10), (300, 50)]))
    field = WorkloadSnapshot.model_fields["application"]
    assert field.default is None
    again = type(profile).model_validate_json(profile.model_dump_json())
    assert again == profile
