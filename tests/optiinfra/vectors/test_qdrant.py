"""The process's Qdrant client: local files by default (under the state dir), one client per location
shared by everyone in the process, a server client without contacting the server, and collections
created once."""

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient, models

from optiinfra.settings import Settings
from optiinfra.vectors.qdrant import (
    QdrantLocation,
    call_qdrant,
    close_qdrant_clients,
    ensure_collection,
    open_qdrant,
    qdrant_location,
)


@pytest.fixture(autouse=True)
def closed_afterwards() -> Iterator[None]:
    yield
    close_qdrant_clients()


def test_local_mode_lives_under_the_state_dir_by_default(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path)
    assert qdrant_location(settings) == QdrantLocation(path=(tmp_path / "qdrant").resolve())
    elsewhere = Settings(_env_file=None, state_dir=tmp_path, qdrant_path=tmp_path / "vectors")
    assert qdrant_location(elsewhere).path == (tmp_path / "vectors").resolve()


def test_a_url_means_a_server(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None, state_dir=tmp_path, qdrant_url="https://127.0.0.1:9", qdrant_api_key="secret"
    )
    assert qdrant_location(settings) == QdrantLocation(url="https://127.0.0.1:9", api_key="secret")
    client = open_qdrant(settings)  # nothing listens there: opening must not need the server
    assert client is open_qdrant(settings)
    assert not (tmp_path / "qdrant").exists()


def test_one_shared_client_per_folder_and_a_second_opener_would_be_refused(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path)
    client = open_qdrant(settings)
    assert open_qdrant(Settings(_env_file=None, state_dir=tmp_path)) is client
    assert (tmp_path / "qdrant").is_dir()
    # What sharing avoids: local mode locks its folder against any other client.
    with pytest.raises(RuntimeError, match="already accessed"):
        QdrantClient(path=str(tmp_path / "qdrant"))


def test_closing_releases_the_folder_and_the_data_stays(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, state_dir=tmp_path)
    client = open_qdrant(settings)
    ensure_collection(client, "things", size=3)
    client.upsert("things", points=[models.PointStruct(id=1, vector=[1.0, 0.0, 0.0], payload={"n": 1})])
    close_qdrant_clients()

    reopened = open_qdrant(settings)
    assert reopened is not client
    assert reopened.count("things").count == 1


def test_ensure_collection_creates_once_with_cosine_distance(tmp_path: Path) -> None:
    client = open_qdrant(Settings(_env_file=None, state_dir=tmp_path))
    ensure_collection(client, "answers_4", size=4)
    client.upsert("answers_4", points=[models.PointStruct(id=7, vector=[0.0, 2.0, 0.0, 0.0])])
    ensure_collection(client, "answers_4", size=4)  # exists: left as it is
    assert client.count("answers_4").count == 1
    params = client.get_collection("answers_4").config.params.vectors
    assert isinstance(params, models.VectorParams)
    assert (params.size, params.distance) == (4, models.Distance.COSINE)


async def test_calls_from_async_code_run_one_at_a_time_off_the_event_loop(tmp_path: Path) -> None:
    client = open_qdrant(Settings(_env_file=None, state_dir=tmp_path))
    await call_qdrant(client, lambda c: ensure_collection(c, "points", size=2))

    def adding(point_id: int) -> Callable[[QdrantClient], None]:
        def add(qdrant: QdrantClient) -> None:
            qdrant.upsert("points", points=[models.PointStruct(id=point_id, vector=[1.0, float(point_id)])])

        return add

    await asyncio.gather(*(call_qdrant(client, adding(n)) for n in range(20)))
    assert await call_qdrant(client, lambda c: c.count("points").count) == 20
