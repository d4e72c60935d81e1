"""Context-window right-sizing per request type on hand-built logs."""

import pytest

from agents.application.context import recommended_window, right_size_context
from agents.application.profile import profile_requests
from optiinfra.domain.application import SECONDS_PER_MONTH
from tests.agents.application.records import price, records

LLAMA = price("llama", 2.5, 10.0, 131_072, capacity_model="Llama-3.1-8B")


def _log() -> list:
    short = records([(990, 10)] * 19 + [(4990, 10)], request_type="short", step_s=10)
    long = records([(2900, 100)] * 10, request_type="long", step_s=10, offset_s=5)
    return short + long


def test_recommended_window_is_p95_plus_buffer_on_256_token_edges() -> None:
    assert recommended_window(1000) == 1280
    assert recommended_window(7343) == 8192
    assert recommended_window(7343, buffer=0.0) == 7424
    assert recommended_window(0) == 256
    # Beyond 16k the grid steps by 1,024: 22,000 -> 22,016 (a 256 multiple) -> 22,528 (the next edge).
    assert recommended_window(20_000) == 22_528
    with pytest.raises(ValueError, match="negative"):
        recommended_window(1000, buffer=-0.1)


def test_per_type_windows_and_the_deployment_window() -> None:
    profile = profile_requests(_log())
    sizing = right_size_context(profile, 8192, price=LLAMA)
    short, long = (next(t for t in sizing.types if t.request_type == name) for name in ("short", "long"))
    # short: p95 (19th of 20) is 1,000 tokens -> 1,100 -> 1,280; the one 5,000-token request is over it.
    assert (short.total_p95_tokens, short.recommended_window) == (1000, 1280)
    assert (short.truncated_requests, short.tokens_cut) == (1, 5000 - 1280)
    assert short.truncated_share == pytest.approx(1 / 20)
    # long: 3,000 -> 3,300 -> 3,328 (13 blocks of 256); none over.
    assert (long.recommended_window, long.truncated_requests) == (3328, 0)
    # The deployment's one window serves both: the larger, and only the 5,000-token request is over it.
    assert sizing.recommended_window == 3328 and sizing.changes
    assert (sizing.truncated_requests, sizing.tokens_cut) == (1, 5000 - 3328)
    assert sizing.truncated_share == pytest.approx(1 / 30)
    assert sizing.window_reduction == pytest.approx(1 - 3328 / 8192)
    factor = SECONDS_PER_MONTH / 190
    assert sizing.monthly_factor == pytest.approx(factor)
    assert sizing.monthly_savings_usd == pytest.approx(1672 * factor * 2.5 / 1e6)
    # Llama-3.1-8B keeps 2 x 32 layers x 8 KV heads x 128 dims x 2 bytes = 128 KiB per token.
    assert sizing.kv_bytes_freed_per_sequence == (8192 - 3328) * 131_072


def test_the_window_never_grows_and_unpriced_models_have_no_dollars() -> None:
    profile = profile_requests(_log())
    sizing = right_size_context(profile, 2048)
    assert sizing.recommended_window == 2048 and not sizing.changes
    assert sizing.monthly_savings_usd is None and sizing.kv_bytes_freed_per_sequence is None
    with pytest.raises(ValueError, match="positive"):
        right_size_context(profile, 0)
