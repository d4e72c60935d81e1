"""A manager, a worker and a fake engine over one store, as vLLM's two connector halves share it."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvtier.store import TieredStore, TierSpec
from kvtier.vllm.handlers import KvtierOffloadingWorker, NumpyPagedKV, paged_kv_from_vllm
from kvtier.vllm.manager import KvtierOffloadingManager, OffloadTypes
from kvtier.vllm.shared import StoreHandle, close_shared_stores
from kvtier.vllm.spec import offload_types
from tests.kvtier.vllm.fake_engine import FakeEngine, KvTensor, canonical_kv_caches, kv_tensors
from tests.kvtier.vllm.standins import TransferResult, standin_api

TOKENS_PER_BLOCK = 4
BLOCKS_PER_CHUNK = 2
CHUNK_TOKENS = TOKENS_PER_BLOCK * BLOCKS_PER_CHUNK
STANDIN_TYPES: OffloadTypes = offload_types(standin_api())
"""The manager's result types over the stand-ins, built as the spec builds them over vLLM's."""


@dataclass
class Stack:
    store: TieredStore
    handle: StoreHandle
    manager: KvtierOffloadingManager
    worker: KvtierOffloadingWorker
    engine: FakeEngine
    tensors: list[KvTensor]


StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[StackFactory]:
    built: list[Stack] = []

    def make(host: int = 0, disk: int = 0, *, policy: str = "lru", gpu_blocks: int = 64) -> Stack:
        tensors = kv_tensors(gpu_blocks)
        kv = paged_kv_from_vllm(canonical_kv_caches(tensors))
        assert isinstance(kv, NumpyPagedKV)
        tiers = []
        if host:
            tiers.append(TierSpec("host", capacity_blocks=host, policy=policy))
        if disk:
            tiers.append(
                TierSpec("disk", capacity_blocks=disk, policy=policy, path=tmp_path / f"disk{len(built)}")
            )
        store = TieredStore(BLOCKS_PER_CHUNK * kv.block_nbytes, tiers, workers=2)
        handle = StoreHandle(store)
        manager = KvtierOffloadingManager(
            handle, STANDIN_TYPES, chunk_tokens=CHUNK_TOKENS, enable_events=True
        )
        worker = KvtierOffloadingWorker(
            handle, kv, blocks_per_chunk=BLOCKS_PER_CHUNK, workers=2, result=TransferResult
        )
        engine = FakeEngine(
            manager, worker, tensors, tokens_per_block=TOKENS_PER_BLOCK, blocks_per_chunk=BLOCKS_PER_CHUNK
        )
        stack = Stack(store, handle, manager, worker, engine, tensors)
        built.append(stack)
        return stack

    yield make
    for stack in built:
        stack.worker.shutdown()
        stack.store.close()


@pytest.fixture(autouse=True)
def _forget_shared_stores() -> Iterator[None]:
    yield
    close_shared_stores()
