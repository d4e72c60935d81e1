"""Fixtures for kvtier: the real Mooncake conversation trace (tests fail if the shared data is missing)."""

from pathlib import Path

import pytest

from kvtier.trace import TraceRequest, load_mooncake

MOONCAKE_CONVERSATION = Path("mooncake/conversation_trace.jsonl")


@pytest.fixture(scope="session")
def mooncake_requests(shared_data_dir: Path) -> list[TraceRequest]:
    return load_mooncake(shared_data_dir / MOONCAKE_CONVERSATION)


@pytest.fixture(scope="session")
def mooncake_chains(mooncake_requests: list[TraceRequest]) -> list[tuple[int, ...]]:
    return [request.hash_ids for request in mooncake_requests]
