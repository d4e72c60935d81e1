"""The process's Qdrant client: a server when `qdrant_url` is set, otherwise local files under
`qdrant_path` (default `<state_dir>/qdrant`).

Local mode locks its folder for the client that opened it, so a second client on the same folder (in this
process or another) fails: everything in a process shares the one client `open_qdrant` returns. The
client's calls block, and local mode is not safe from several threads at once, so async code runs them
through `call_qdrant`, which serialises them on a worker thread."""

import asyncio
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from qdrant_client import QdrantClient, models

from optiinfra.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class QdrantLocation:
    """A server (`url`, with an optional key) or, when `path` is set, a local folder."""

    url: str = ""
    api_key: str | None = None
    path: Path | None = None


_clients: dict[QdrantLocation, QdrantClient] = {}
_locks: weakref.WeakKeyDictionary[QdrantClient, threading.Lock] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def qdrant_location(settings: Settings) -> QdrantLocation:
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantLocation(url=settings.qdrant_url, api_key=api_key)
    path = settings.qdrant_path if settings.qdrant_path is not None else settings.state_dir / "qdrant"
    return QdrantLocation(path=path.expanduser().resolve())


def open_qdrant(settings: Settings) -> QdrantClient:
    """The shared client for the settings' Qdrant, opened on first use (a local folder is created)."""
    return open_qdrant_at(qdrant_location(settings))


def open_qdrant_at(location: QdrantLocation) -> QdrantClient:
    with _registry_lock:
        client = _clients.get(location)
        if client is None:
            client = _open(location)
            _clients[location] = client
        return client


def close_qdrant_clients() -> None:
    """Close every shared client (releasing local folders, for another process to open); the next
    `open_qdrant` opens afresh."""
    with _registry_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


async def call_qdrant(client: QdrantClient, call: Callable[[QdrantClient], T]) -> T:
    """Run one blocking client call on a worker thread, one at a time per client."""
    with _registry_lock:
        lock = _locks.setdefault(client, threading.Lock())

    def locked() -> T:
        with lock:
            return call(client)

    return await asyncio.to_thread(locked)


def ensure_collection(client: QdrantClient, name: str, *, size: int) -> None:
    """Create a cosine-distance collection of `size`-long vectors unless it exists."""
    if not client.collection_exists(name):
        client.create_collection(
            name, vectors_config=models.VectorParams(size=size, distance=models.Distance.COSINE)
        )


def _open(location: QdrantLocation) -> QdrantClient:
    if location.path is None:
        # No version handshake here: opening must not depend on the server being up.
        return QdrantClient(url=location.url, api_key=location.api_key, check_compatibility=False)
    location.path.mkdir(parents=True, exist_ok=True)
    # Calls come from worker threads, one at a time (call_qdrant), so SQLite's same-thread check is moot.
    return QdrantClient(path=str(location.path), force_disable_check_same_thread=True)
