"""The real public data set beside the checkout (OPTIINFRA_DATA_DIR, default ../shared/data), and what the
tests derive from it once per session.

Tests that need it fail, never skip, when it is missing: CI always has it."""

import os
from pathlib import Path

import pytest

from optiinfra.domain.resource import PrefixCacheProfile

REPO_ROOT = Path(__file__).resolve().parents[2]
MOONCAKE_CONVERSATION = Path("mooncake") / "conversation_trace.jsonl"
PROFILED_REPLICAS = 4


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    configured = os.environ.get("OPTIINFRA_DATA_DIR")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    if not (path / "MANIFEST.md").exists():
        pytest.fail(f"the shared data set is missing at {path}: set OPTIINFRA_DATA_DIR to it")
    return path


@pytest.fixture(scope="session")
def mooncake_trace(shared_data_dir: Path) -> Path:
    return shared_data_dir / MOONCAKE_CONVERSATION


@pytest.fixture(scope="session")
def mooncake_replica_profile(mooncake_trace: Path) -> PrefixCacheProfile:
    """The real Mooncake conversation trace replayed pooled and split over four replicas by each routing:
    some 15 s of cache replays, so done once per session for every test that reads it (tests/conftest.py
    keeps those tests on one pytest-xdist worker)."""
    from kvtier.trace import load_mooncake
    from optiinfra.kvcache.profile import profile_prefix_cache

    return profile_prefix_cache(
        load_mooncake(mooncake_trace), source=str(mooncake_trace), replicas=PROFILED_REPLICAS
    )
