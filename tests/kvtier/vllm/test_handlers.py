"""The worker side and its view of the KV cache, without torch: numpy arrays in vLLM's canonical layout."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from kvtier.blocks import BlockLocation
from kvtier.store import TieredStore, TierSpec
from kvtier.vllm.handlers import JobResult, KvtierOffloadingWorker, NumpyPagedKV, paged_kv_from_vllm
from kvtier.vllm.manager import KvtierLoadStoreSpec
from kvtier.vllm.shared import StoreHandle
from tests.kvtier.vllm.fake_engine import canonical_kv_caches
from tests.kvtier.vllm.standins import (
    CanonicalKVCacheRef,
    CanonicalKVCaches,
    GPULoadStoreSpec,
    TransferResult,
)

Array = npt.NDArray[Any]
BLOCKS = 12


def random_tensors(seed: int, blocks: int = BLOCKS) -> list[Array]:
    """vLLM's canonical (num_blocks, page_bytes) int8 tensors, and a layer of another dtype and shape."""
    rng = np.random.default_rng(seed)
    return [
        rng.integers(-128, 128, (blocks, 48), dtype=np.int8),
        rng.integers(-128, 128, (blocks, 20), dtype=np.int8),
        rng.standard_normal((blocks, 4, 2, 3)).astype(np.float16),
    ]


BLOCK_NBYTES = 48 + 20 + 4 * 2 * 3 * 2


def gpu(block_ids: list[int], first_index: int = 0) -> GPULoadStoreSpec:
    """vLLM's GPU spec for one KV cache group whose first block is block `first_index` of its request."""
    return GPULoadStoreSpec(block_ids, group_sizes=[len(block_ids)], block_indices=[first_index])


def test_numpy_paged_kv_gathers_and_scatters_whole_blocks_across_layers() -> None:
    source = random_tensors(1)
    kv = NumpyPagedKV(source)
    assert (kv.num_blocks, kv.block_nbytes) == (BLOCKS, BLOCK_NBYTES)
    ids = np.array([7, 2, 9], dtype=np.int64)
    staged = np.empty((3, kv.block_nbytes), dtype=np.uint8)
    kv.gather(ids, staged, kv.fence())
    assert np.array_equal(staged[:, :48], source[0][ids].view(np.uint8))  # layer after layer, in order
    target = [np.zeros_like(tensor) for tensor in source]
    NumpyPagedKV(target).scatter(np.array([0, 1, 2], dtype=np.int64), staged, None)
    for moved, original in zip(target, source, strict=True):
        assert np.array_equal(moved[:3], original[ids])
        assert not moved[3:].any()
    with pytest.raises(ValueError, match="disagree on the number of blocks"):
        NumpyPagedKV([np.zeros((5, 3)), np.zeros((6, 3))])
    with pytest.raises(ValueError, match="at least one layer"):
        NumpyPagedKV([])


def test_numpy_paged_kv_over_strided_pages_leaves_the_padding_alone() -> None:
    """vLLM's packed layouts give (num_blocks, page) views whose block stride exceeds the page."""
    backing = np.full((6, 32), 7, dtype=np.int8)
    pages = backing[:, :24]
    kv = NumpyPagedKV([pages])
    assert kv.block_nbytes == 24
    data = np.arange(2 * 24, dtype=np.uint8).reshape(2, 24)
    kv.scatter(np.array([4, 1], dtype=np.int64), data, None)
    assert np.array_equal(backing[[4, 1], :24].view(np.uint8), data)
    assert np.all(backing[:, 24:] == 7)
    staged = np.empty((2, 24), dtype=np.uint8)
    kv.gather(np.array([4, 1], dtype=np.int64), staged, None)
    assert np.array_equal(staged, data)


def test_paged_kv_from_vllm_works_on_the_engines_own_arrays() -> None:
    tensors = [np.zeros((6, 16), dtype=np.int8), np.zeros((6, 8), dtype=np.int8)]
    kv = paged_kv_from_vllm(canonical_kv_caches(tensors))
    assert isinstance(kv, NumpyPagedKV) and (kv.num_blocks, kv.block_nbytes) == (6, 24)
    kv.scatter(np.array([5], dtype=np.int64), np.full((1, 24), 9, dtype=np.uint8), kv.fence())
    assert np.all(tensors[0][5] == 9) and np.all(tensors[1][5] == 9)  # no copy of the cache
    assert not tensors[0][:5].any()


def test_paged_kv_from_vllm_refuses_several_kv_cache_groups() -> None:
    caches = canonical_kv_caches([np.zeros((6, 16), dtype=np.int8)])
    two_groups = CanonicalKVCaches(caches.tensors, [caches.group_data_refs[0], [CanonicalKVCacheRef(0, 16)]])
    with pytest.raises(ValueError, match="one KV cache group; this model has 2"):
        paged_kv_from_vllm(two_groups)


@pytest.fixture
def make_worker(tmp_path: Path) -> Iterator[Any]:
    """Workers over random KV tensors and a one-slot host tier above an eight-slot disk tier."""
    built: list[KvtierOffloadingWorker] = []

    def make(blocks_per_chunk: int, **kwargs: Any) -> tuple[KvtierOffloadingWorker, list[Array]]:
        tensors = random_tensors(5)
        kv = NumpyPagedKV(tensors)
        store = TieredStore(
            blocks_per_chunk * kv.block_nbytes,
            [
                TierSpec("host", capacity_blocks=1),
                TierSpec("disk", capacity_blocks=8, path=tmp_path / f"arena{len(built)}"),
            ],
        )
        worker = KvtierOffloadingWorker(StoreHandle(store), kv, blocks_per_chunk=blocks_per_chunk, **kwargs)
        built.append(worker)
        return worker, tensors

    yield make
    for worker in built:
        worker.shutdown()
        worker.store.close()


def finished(worker: KvtierOffloadingWorker, job_id: int) -> Any:
    """The job's result from `get_finished`, once `wait` returned for it."""
    worker.wait({job_id})
    results = worker.get_finished()
    assert [result.job_id for result in results] == [job_id]
    return results[0]


def store_chunks(
    worker: KvtierOffloadingWorker, keys: list[bytes], block_ids: list[int]
) -> KvtierLoadStoreSpec:
    plan = worker.store.prepare_store(keys)
    assert worker.submit_store(0, gpu(block_ids), KvtierLoadStoreSpec(plan.locations))
    assert finished(worker, 0).success
    worker.store.complete_store(keys)
    return KvtierLoadStoreSpec(worker.store.prepare_load(keys))


def test_a_load_starting_mid_chunk_lands_each_byte_where_it_came_from(make_worker: Any) -> None:
    worker, tensors = make_worker(3, chunk_bytes=1, result=TransferResult)  # one chunk staged at a time
    original = [tensor.copy() for tensor in tensors]
    load = store_chunks(worker, [b"k0", b"k1", b"k2"], list(range(9)))
    assert {location.tier for location in load.locations} == {"host", "disk"}
    for tensor in tensors:
        tensor[...] = 0
    # vLLM's prefix cache holds the request's first GPU block: the load starts at block index 1,
    # one sub-block into the first chunk, and fills 8 GPU blocks from 3 chunks of 3
    targets = [11, 10, 9, 8, 7, 6, 5, 4]
    assert worker.submit_load(1, load, gpu(targets, first_index=1))
    result = finished(worker, 1)
    assert isinstance(result, TransferResult)  # built by the result factory vLLM's spec passes
    assert (result.job_id, result.success, result.transfer_size) == (1, True, 8 * BLOCK_NBYTES)
    assert result.transfer_time is not None and 0 < result.transfer_time < 10
    for sub_block, block in zip(range(1, 9), targets, strict=True):
        for moved, before in zip(tensors, original, strict=True):
            assert np.array_equal(moved[block], before[sub_block])
    assert not any(tensor[:4].any() for tensor in tensors)  # nothing landed outside the targets


def test_block_indices_count_from_the_request_start_so_only_their_offset_in_the_chunk_matters(
    make_worker: Any,
) -> None:
    worker, tensors = make_worker(3)
    original = [tensor.copy() for tensor in tensors]
    load = store_chunks(worker, [b"a", b"b"], list(range(6)))
    for tensor in tensors:
        tensor[...] = 0
    # the load's chunks are the request's chunks 1 and 2; its first GPU block is request block 4:
    # sub-block 1 of the first chunk, and it ends inside the second chunk
    assert worker.submit_load(2, load, gpu([10, 11, 8], first_index=4))
    result = finished(worker, 2)
    assert isinstance(result, JobResult) and result.success and result.transfer_size == 3 * BLOCK_NBYTES
    for sub_block, block in zip((1, 2, 3), (10, 11, 8), strict=True):
        for moved, before in zip(tensors, original, strict=True):
            assert np.array_equal(moved[block], before[sub_block])


def test_a_finished_store_reports_its_size_and_time(make_worker: Any) -> None:
    worker, tensors = make_worker(2)
    plan = worker.store.prepare_store([b"x", b"y"])
    assert worker.submit_store(7, gpu([3, 4, 5, 6]), KvtierLoadStoreSpec(plan.locations))
    result = finished(worker, 7)
    assert (result.job_id, result.success, result.transfer_size) == (7, True, 2 * worker.store.block_bytes)
    assert isinstance(result.transfer_time, float) and result.transfer_time > 0
    assert worker.get_finished() == []  # reported once
    worker.store.complete_store([b"x", b"y"])
    out = np.empty(worker.store.block_bytes, dtype=np.uint8)
    worker.store.read_into(plan.locations[1], out)
    assert np.array_equal(out[:48], tensors[0][5].view(np.uint8))  # y = GPU blocks 5 and 6
    assert np.array_equal(out[BLOCK_NBYTES : BLOCK_NBYTES + 48], tensors[0][6].view(np.uint8))


def test_wait_returns_once_the_bytes_are_in_the_store(make_worker: Any) -> None:
    worker, tensors = make_worker(1, chunk_bytes=1)
    keys = [bytes([index]) for index in range(8)]
    plan = worker.store.prepare_store(keys)
    slow_write = worker.store.write

    def write(location: BlockLocation, data: Any) -> None:
        time.sleep(0.005)
        slow_write(location, data)

    worker.store.write = write
    assert worker.submit_store(3, gpu(list(range(8))), KvtierLoadStoreSpec(plan.locations))
    worker.wait({3})
    worker.store.complete_store(keys)
    out = np.empty(worker.store.block_bytes, dtype=np.uint8)
    worker.store.read_into(plan.locations[-1], out)
    assert np.array_equal(out[:48], tensors[0][7].view(np.uint8))


def test_transfers_that_do_not_fit_are_refused_up_front(make_worker: Any) -> None:
    worker, _ = make_worker(2)
    plan = worker.store.prepare_store([b"a", b"b"])
    spec = KvtierLoadStoreSpec(plan.locations)
    assert not worker.submit_store(0, gpu([0, 1, 2]), spec)  # 2 chunks need 4 GPU blocks
    assert not worker.submit_store(1, gpu([0, 1, 2, 3], first_index=1), spec)  # not at a chunk boundary
    assert not worker.submit_store(2, gpu([0, 1, 2, 3], first_index=3), spec)
    assert not worker.submit_load(3, spec, gpu([0, 1, 2, 3, 4]))  # 2 chunks hold 4 blocks
    assert not worker.submit_load(4, spec, gpu([0, 1, 2, 3], first_index=1))  # sub-blocks 1-4 of 0-3
    assert not worker.submit_load(5, KvtierLoadStoreSpec(()), gpu([]))
    assert not worker.submit_load(6, gpu([0]), gpu([1]))  # not a kvtier spec
    two_groups = GPULoadStoreSpec([0, 1, 2, 3], group_sizes=[2, 2], block_indices=[0, 0])
    assert not worker.submit_store(7, two_groups, spec)
    assert worker.get_finished() == []  # nothing was queued
    assert worker.submit_store(8, gpu([0, 1, 2, 3], first_index=2), spec)  # chunk-aligned: accepted
    assert finished(worker, 8).success
    worker.store.complete_store([b"a", b"b"], success=False)


def test_the_worker_needs_the_store_sized_for_its_chunks(tmp_path: Path) -> None:
    kv = NumpyPagedKV(random_tensors(2))
    with TieredStore(2 * kv.block_nbytes, [TierSpec("host", capacity_blocks=2)]) as store:
        with pytest.raises(ValueError, match=f"but 3 blocks of this KV cache are {3 * BLOCK_NBYTES} bytes"):
            KvtierOffloadingWorker(StoreHandle(store), kv, blocks_per_chunk=3)
        with pytest.raises(ValueError, match="blocks_per_chunk must be >= 1"):
            KvtierOffloadingWorker(StoreHandle(store), kv, blocks_per_chunk=0)


def test_a_job_wait_returned_for_is_already_in_get_finished(make_worker: Any) -> None:
    """The result is queued before the job's future resolves: no step in between where `wait` has
    returned and `get_finished` does not have the job yet."""
    worker, _ = make_worker(1)
    keys = [b"k"]
    for job_id in range(200):
        plan = worker.store.prepare_store(keys)
        assert worker.submit_store(job_id, gpu([0]), KvtierLoadStoreSpec(plan.locations))
        worker.wait({job_id})
        assert [result.job_id for result in worker.get_finished()] == [job_id]
        worker.store.complete_store(keys, success=False)
