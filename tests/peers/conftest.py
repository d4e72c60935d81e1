"""The peer tier: NVIDIA Dynamo's planner and AIBrix's optimizer run from their own packages in their own
environments (`make peers` builds them). A peer that is not built fails its tests, never skips them."""

from pathlib import Path

import pytest

from optiinfra.settings import get_settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.peers)


@pytest.fixture(scope="session")
def peer_envs() -> Path:
    return get_settings().peer_envs_dir
