"""The worker-side handler and its view of the GPU cache, without torch: numpy arrays laid out like vLLM's."""

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from kvtier.store import TieredStore, TierSpec
from kvtier.vllm.handlers import KvtierTransferHandler, NumpyPagedKV, kv_block_dim, paged_kv_from_vllm
from kvtier.vllm.manager import KvtierLoadStoreSpec
from kvtier.vllm.shared import StoreHandle
from tests.kvtier.vllm.fakes import FakeGPULoadStoreSpec, FakeTransferResult


def random_layers(seed: int, blocks: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.standard_normal((2, blocks, 4, 2, 8)).astype(np.float16),  # FlashAttention: (2, blocks, ...)
        rng.standard_normal((blocks, 4, 6)).astype(np.float32),  # MLA: (blocks, ...)
    ]


def test_numpy_paged_kv_gathers_and_scatters_whole_blocks_across_layouts() -> None:
    source = random_layers(1)
    kv = NumpyPagedKV(source, [1, 0])
    assert kv.num_blocks == 12 and kv.block_nbytes == 2 * 4 * 2 * 8 * 2 + 4 * 6 * 4
    ids = np.array([7, 2, 9], dtype=np.int64)
    staged = np.empty((3, kv.block_nbytes), dtype=np.uint8)
    kv.gather(ids, staged, kv.fence())
    target = [np.zeros_like(layer) for layer in source]
    NumpyPagedKV(target, [1, 0]).scatter(np.array([0, 1, 2], dtype=np.int64), staged, None)
    assert np.array_equal(target[0][:, :3], source[0][:, ids])
    assert np.array_equal(target[1][:3], source[1][ids])
    assert not target[0][:, 3:].any() and not target[1][3:].any()
    with pytest.raises(ValueError, match="disagree on the number of blocks"):
        NumpyPagedKV([np.zeros((2, 5, 3)), np.zeros((6, 3))], [1, 0])


def test_the_block_axis_comes_from_the_attention_backend_or_the_shape() -> None:
    flash = SimpleNamespace(
        get_kv_cache_shape=lambda num_blocks, block_size, num_kv_heads, head_size: (
            2,
            num_blocks,
            block_size,
            num_kv_heads,
            head_size,
        )
    )
    flashinfer = SimpleNamespace(
        get_kv_cache_shape=lambda num_blocks, block_size, num_kv_heads, head_size: (
            num_blocks,
            2,
            block_size,
            num_kv_heads,
            head_size,
        )
    )
    assert kv_block_dim((2, 100, 16, 8, 64), flash) == 1
    assert kv_block_dim((2, 2, 16, 8, 64), flashinfer) == 0  # two blocks: only the backend can tell
    assert kv_block_dim((2, 100, 16, 8, 64)) == 1
    assert kv_block_dim((100, 2, 16, 8, 64)) == 0
    assert kv_block_dim((100, 16, 576)) == 0
    shared = np.zeros((2, 6, 4, 1, 2), dtype=np.float16)
    kv = paged_kv_from_vllm({"layer.0": shared, "layer.1": shared, "layer.2": np.zeros((6, 4, 3))})
    assert isinstance(kv, NumpyPagedKV)
    assert kv.block_nbytes == 2 * 4 * 2 * 2 + 4 * 3 * 8  # a tensor two layers share is copied once


def make_handler(
    tmp_path: Path, factor: int, **kwargs: Any
) -> tuple[KvtierTransferHandler, list[np.ndarray]]:
    layers = random_layers(5)
    kv = NumpyPagedKV(layers, [1, 0])
    store = TieredStore(
        factor * kv.block_nbytes,
        [TierSpec("host", capacity_blocks=1), TierSpec("disk", capacity_blocks=8, path=tmp_path / "arena")],
    )
    return KvtierTransferHandler(StoreHandle(store), kv, block_size_factor=factor, **kwargs), layers


def test_a_load_skipping_gpu_blocks_lands_each_byte_where_it_came_from(tmp_path: Path) -> None:
    factor = 3
    handler, layers = make_handler(
        tmp_path, factor, chunk_bytes=1, result=FakeTransferResult
    )  # 1 block per chunk
    original = [layer.copy() for layer in layers]
    keys = [b"k0", b"k1", b"k2"]
    plan = handler.store.prepare_store(keys)
    stored = KvtierLoadStoreSpec(plan.locations)
    assert handler.transfer_async(0, (FakeGPULoadStoreSpec([0, 1, 2, 3, 4, 5, 6, 7, 8]), stored))
    handler.wait([0])
    assert handler.get_finished() == [FakeTransferResult(0, True)]
    handler.store.complete_store(keys)
    for layer in layers:
        layer[...] = 0
    load = KvtierLoadStoreSpec(handler.store.prepare_load(keys))
    # the GPU already holds the first sub-block: 8 GPU blocks for 3 offloaded blocks of 3
    assert handler.transfer_async(1, (load, FakeGPULoadStoreSpec([11, 10, 9, 8, 7, 6, 5, 4])))
    handler.wait([1])
    assert handler.get_finished() == [FakeTransferResult(1, True)]
    handler.store.complete_load(keys)
    for sub_block, gpu in zip(range(1, 9), [11, 10, 9, 8, 7, 6, 5, 4], strict=True):
        assert np.array_equal(layers[0][:, gpu], original[0][:, sub_block])
        assert np.array_equal(layers[1][gpu], original[1][sub_block])
    handler.shutdown()
    handler.store.close()


def test_transfers_that_do_not_fit_are_refused_up_front(tmp_path: Path) -> None:
    handler, _ = make_handler(tmp_path, 2)
    plan = handler.store.prepare_store([b"a", b"b"])
    spec = KvtierLoadStoreSpec(plan.locations)
    assert not handler.transfer_async(0, (FakeGPULoadStoreSpec([0, 1, 2]), spec))  # 2 blocks need 4 ids
    assert not handler.transfer_async(1, (spec, FakeGPULoadStoreSpec([0, 1])))  # a load fills 3 or 4
    assert not handler.transfer_async(2, (FakeGPULoadStoreSpec([0]), FakeGPULoadStoreSpec([1])))
    assert not handler.transfer_async(3, (KvtierLoadStoreSpec(()), FakeGPULoadStoreSpec([])))
    assert handler.get_finished() == []
    handler.store.complete_store([b"a", b"b"], success=False)
    with pytest.raises(ValueError, match="GPU blocks of this KV cache"):
        KvtierTransferHandler(
            StoreHandle(handler.store), NumpyPagedKV(random_layers(2), [1, 0]), block_size_factor=3
        )
    handler.shutdown()
    handler.store.close()
