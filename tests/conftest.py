"""Shared fixtures: each real part the tests need lives in its own module under tests/support."""

import pytest

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.cloud",
    "tests.support.temporal",
    "tests.support.data",
    "tests.support.openai_stub",
    "tests.support.real_vllm",
]

REAL_ENGINE_MARKERS = ("real_vllm", "real_prometheus")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run under pytest-xdist, the real-engine tiers stay on one worker, so their session's vLLM servers
    start once (`make test` runs them on their own anyway, after the parallel fast tier)."""
    for item in items:
        if any(item.get_closest_marker(name) for name in REAL_ENGINE_MARKERS):
            item.add_marker(pytest.mark.xdist_group("real-engines"))
