"""A manager, a handler and a fake engine over one store, as vLLM's two connector halves share it."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvtier.store import TieredStore, TierSpec
from kvtier.vllm.handlers import KvtierTransferHandler, NumpyPagedKV
from kvtier.vllm.manager import KvtierLoadStoreSpec, KvtierOffloadingManager, OffloadTypes
from kvtier.vllm.shared import StoreHandle, close_shared_stores
from tests.kvtier.vllm.fakes import (
    FakeEngine,
    FakeGPULoadStoreSpec,
    FakeOffloadingEvent,
    FakePrepareStoreOutput,
    FakeWorker,
    gpu_layers,
)

GPU_BLOCK_SIZE = 4
FAKE_TYPES = OffloadTypes(KvtierLoadStoreSpec, FakePrepareStoreOutput, FakeOffloadingEvent)


@dataclass
class Stack:
    store: TieredStore
    handle: StoreHandle
    manager: KvtierOffloadingManager
    handler: KvtierTransferHandler
    worker: FakeWorker
    engine: FakeEngine


StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[StackFactory]:
    built: list[Stack] = []

    def make(
        host: int = 0, disk: int = 0, *, factor: int = 2, policy: str = "lru", gpu_blocks: int = 64
    ) -> Stack:
        layers = gpu_layers(gpu_blocks, GPU_BLOCK_SIZE)
        kv = NumpyPagedKV([array for array, _ in layers], [dim for _, dim in layers])
        tiers = []
        if host:
            tiers.append(TierSpec("host", capacity_blocks=host, policy=policy))
        if disk:
            tiers.append(
                TierSpec("disk", capacity_blocks=disk, policy=policy, path=tmp_path / f"disk{len(built)}")
            )
        store = TieredStore(factor * kv.block_nbytes, tiers, workers=2)
        handle = StoreHandle(store)
        manager = KvtierOffloadingManager(
            handle, FAKE_TYPES, block_size=GPU_BLOCK_SIZE * factor, enable_events=True
        )
        handler = KvtierTransferHandler(handle, kv, block_size_factor=factor, workers=2)
        worker = FakeWorker()
        worker.register_handler(FakeGPULoadStoreSpec, KvtierLoadStoreSpec, handler)
        worker.register_handler(KvtierLoadStoreSpec, FakeGPULoadStoreSpec, handler)
        engine = FakeEngine(manager, worker, layers, GPU_BLOCK_SIZE, factor)
        stack = Stack(store, handle, manager, handler, worker, engine)
        built.append(stack)
        return stack

    yield make
    for stack in built:
        stack.handler.shutdown()
        stack.store.close()


@pytest.fixture(autouse=True)
def _forget_shared_stores() -> Iterator[None]:
    yield
    close_shared_stores()
