"""The real public data set beside the checkout (OPTIINFRA_DATA_DIR, default ../shared/data).

Tests that need it fail, never skip, when it is missing: CI always has it."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    configured = os.environ.get("OPTIINFRA_DATA_DIR")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    if not (path / "MANIFEST.md").exists():
        pytest.fail(f"the shared data set is missing at {path}: set OPTIINFRA_DATA_DIR to it")
    return path
