"""A small engine that drives a kvtier manager and worker the way vLLM 0.32's `OffloadingConnector` does
(`vllm/distributed/kv_transfer/kv_connector/v1/offloading/scheduler.py` and `.../worker.py`), one request
at a time, one full-attention KV cache group, over numpy arrays in vLLM's canonical KV layout (one
(num_blocks, page_bytes) int8 array per KV tensor).

Per request, in the connector's order:

1. `on_new_request(ReqContext)`, then the request's `OffloadKey`s (the hash of each chunk's last block plus
   the group index), each recorded with `set_offload_key_position(key, end_token)`;
2. `lookup(key)` one key at a time from the chunk holding the first token the GPU prefix cache lacks,
   stopping at the first MISS; a HIT_PENDING or RETRY defers the request (vLLM asks again later);
3. after allocation, `prepare_load` of the hit chunks from that chunk on, `get_load_source` of each, and a
   `submit_load` whose `GPULoadStoreSpec` starts at the first GPU block the prefix cache lacks
   (`block_indices=[its index in the request]`); `complete_load` once the worker reports the job;
4. the rest is computed; `prepare_store` of the full chunks from the next one not yet stored (after a load,
   the first chunk past the hit; without one, chunk 0), a `submit_store` of the stored chunks' GPU blocks
   (`group_sizes=[n]`, `block_indices=[first stored GPU block's index]`), `on_request_finished`, and
   `complete_store` (without a success flag) once the worker reports the job.

vLLM 0.32's connector never calls `touch`, so neither does this engine. Block 0 is vLLM's null block and
is never handed out. The KV a block holds is fixed by its prefix hash, so a loaded block can be checked
against what computing it would give.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.kvtier.vllm.standins import (
    CanonicalKVCacheRef,
    CanonicalKVCaches,
    CanonicalKVCacheTensor,
    GPULoadStoreSpec,
    LookupResult,
    OffloadKey,
    ReqContext,
    make_offload_key,
)

PAGE_BYTES = (96, 40)
"""Two KV tensors with different page sizes, as a model with two kinds of layer has."""

U8 = npt.NDArray[np.uint8]
KvTensor = npt.NDArray[np.int8]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def kv_tensors(num_blocks: int, page_bytes: tuple[int, ...] = PAGE_BYTES) -> list[KvTensor]:
    return [np.zeros((num_blocks, page), dtype=np.int8) for page in page_bytes]


def canonical_kv_caches(tensors: list[Any]) -> CanonicalKVCaches:
    """vLLM's `CanonicalKVCaches` over `tensors`, one KV cache group with one layer per tensor."""
    pages = [int(tensor.shape[1]) for tensor in tensors]
    return CanonicalKVCaches(
        tensors=[CanonicalKVCacheTensor(tensor, page) for tensor, page in zip(tensors, pages, strict=True)],
        group_data_refs=[[CanonicalKVCacheRef(index, page) for index, page in enumerate(pages)]],
    )


def block_hashes(tokens: list[int], tokens_per_block: int) -> list[bytes]:
    """vLLM-style chained hashes of every full block of `tokens`."""
    hashes: list[bytes] = []
    previous = b"root"
    for start in range(0, len(tokens) - tokens_per_block + 1, tokens_per_block):
        chunk = np.asarray(tokens[start : start + tokens_per_block], dtype=np.int64).tobytes()
        previous = hashlib.sha256(previous + chunk).digest()
        hashes.append(previous)
    return hashes


def expected_page(block_hash: bytes, tensor: int, nbytes: int) -> U8:
    """The bytes a model would compute for one block of one KV tensor: fixed by the block's hash."""
    seed = int.from_bytes(hashlib.sha256(block_hash + bytes([tensor])).digest()[:8], "little")
    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8)


@dataclass
class RequestOutcome:
    hit_tokens: int | None = 0
    """Tokens loaded from kvtier; None when a lookup deferred the request."""
    load_keys: list[OffloadKey] = field(default_factory=list)
    load_spec: Any = None
    load_gpu_spec: GPULoadStoreSpec | None = None
    load_result: Any = None
    sources: dict[Any, int] = field(default_factory=dict)
    """Loaded tokens per `CacheHitSource`, as vLLM's `get_external_cache_hit_sources` sums them."""
    gpu_matches: bool = False
    offered: list[OffloadKey] = field(default_factory=list)
    """The keys passed to prepare_store."""
    store_output: Any = None
    store_gpu_spec: GPULoadStoreSpec | None = None
    store_job: int | None = None

    @property
    def load_ok(self) -> bool | None:
        return None if self.load_result is None else bool(self.load_result.success)

    @property
    def stored(self) -> int:
        return len(self.store_output.keys_to_store) if self.store_output is not None else 0


@dataclass
class _PendingStore:
    job_id: int
    keys: set[OffloadKey]
    req_context: ReqContext
    block_ids: list[int]


class FakeEngine:
    def __init__(
        self,
        manager: Any,
        worker: Any,
        tensors: list[KvTensor],
        *,
        tokens_per_block: int,
        blocks_per_chunk: int,
        group_idx: int = 0,
    ) -> None:
        self.manager = manager
        self.worker = worker
        self.tensors = tensors
        self.tokens_per_block = tokens_per_block
        self.blocks_per_chunk = blocks_per_chunk
        self.group_idx = group_idx
        self.free = list(range(tensors[0].shape[0] - 1, 0, -1))
        self.results: dict[int, Any] = {}
        """Every finished job's result, by job id."""
        self.pending_stores: list[_PendingStore] = []
        self._next_job = 0
        self._next_request = 0

    @property
    def tokens_per_chunk(self) -> int:
        return self.tokens_per_block * self.blocks_per_chunk

    def offload_keys(self, tokens: list[int], req_context: ReqContext | None = None) -> list[OffloadKey]:
        """The request's keys, one per full chunk, positions recorded in `req_context` as vLLM does."""
        hashes = block_hashes(tokens, self.tokens_per_block)
        keys: list[OffloadKey] = []
        for end in range(self.blocks_per_chunk, len(hashes) + 1, self.blocks_per_chunk):
            key = make_offload_key(hashes[end - 1], self.group_idx)
            keys.append(key)
            if req_context is not None:
                req_context.set_offload_key_position(key, len(keys) * self.tokens_per_chunk)
        return keys

    def page(self, tensor: int, block_id: int) -> U8:
        page: U8 = self.tensors[tensor][block_id].view(np.uint8)
        return page

    def run(
        self, tokens: list[int], *, gpu_cached_blocks: int = 0, complete_stores: bool = True
    ) -> RequestOutcome:
        """One request whose first `gpu_cached_blocks` GPU blocks vLLM's own prefix cache holds."""
        assert len(tokens) % self.tokens_per_block == 0, "whole GPU blocks only"
        outcome = RequestOutcome()
        req_context = ReqContext(f"req-{self._next_request}")
        self._next_request += 1
        self.manager.on_new_request(req_context)
        keys = self.offload_keys(tokens, req_context)
        hashes = block_hashes(tokens, self.tokens_per_block)
        num_computed = gpu_cached_blocks * self.tokens_per_block

        hit = self._lookup(keys, req_context, len(tokens), num_computed)
        outcome.hit_tokens = hit
        if hit is None:
            return outcome  # vLLM leaves the request waiting and looks it up again on a later step

        block_ids = [self.free.pop() for _ in hashes]
        for index in range(gpu_cached_blocks):
            self._compute(hashes[index], block_ids[index])
        computed_blocks = gpu_cached_blocks
        next_stored_chunk = 0
        if hit:
            num_cached = num_computed + hit
            num_gpu_blocks = cdiv(num_cached, self.tokens_per_block)
            load_start = cdiv(num_computed, self.tokens_per_block)
            first_chunk = load_start // self.blocks_per_chunk
            outcome.load_keys = keys[first_chunk : cdiv(num_cached, self.tokens_per_chunk)]
            outcome.load_spec = self.manager.prepare_load(outcome.load_keys, req_context)
            for chunk, key in enumerate(outcome.load_keys, first_chunk):
                lo = max(load_start * self.tokens_per_block, chunk * self.tokens_per_chunk)
                hi = min(num_cached, (chunk + 1) * self.tokens_per_chunk)
                source = self.manager.get_load_source(key, req_context)
                outcome.sources[source] = outcome.sources.get(source, 0) + hi - lo
            dst = block_ids[load_start:num_gpu_blocks]
            outcome.load_gpu_spec = GPULoadStoreSpec(dst, group_sizes=[len(dst)], block_indices=[load_start])
            job = self._job()
            assert self.worker.submit_load(job, outcome.load_spec, outcome.load_gpu_spec)
            outcome.load_result = self.wait(job)
            self.manager.complete_load(set(outcome.load_keys), req_context)
            computed_blocks = num_gpu_blocks
            next_stored_chunk = cdiv(num_cached, self.tokens_per_chunk)
        for index in range(computed_blocks, len(hashes)):
            self._compute(hashes[index], block_ids[index])
        outcome.gpu_matches = all(
            np.array_equal(self.page(tensor, block_id), expected_page(block_hash, tensor, page.shape[1]))
            for block_hash, block_id in zip(hashes, block_ids, strict=True)
            for tensor, page in enumerate(self.tensors)
        )

        outcome.offered = keys[next_stored_chunk:]
        if outcome.offered:
            output = self.manager.prepare_store(outcome.offered, req_context)
            outcome.store_output = output
            if output is not None and output.keys_to_store:
                wanted = set(output.keys_to_store)
                src: list[int] = []
                first_block: int | None = None
                for chunk, key in enumerate(outcome.offered, next_stored_chunk):
                    if key not in wanted:
                        continue
                    for block in range(chunk * self.blocks_per_chunk, (chunk + 1) * self.blocks_per_chunk):
                        first_block = block if first_block is None else first_block
                        src.append(block_ids[block])
                spec = GPULoadStoreSpec(src, group_sizes=[len(src)], block_indices=[first_block or 0])
                outcome.store_gpu_spec = spec
                job = self._job()
                assert self.worker.submit_store(job, spec, output.store_spec)
                outcome.store_job = job
                self.pending_stores.append(_PendingStore(job, wanted, req_context, block_ids))
                block_ids = []  # held until the store is done, as vLLM fences them
        self.manager.on_request_finished(req_context)
        self._release(block_ids)
        if complete_stores:
            self.complete_stores()
        return outcome

    def complete_stores(self) -> None:
        """Waits for the store jobs in flight and completes them, as vLLM does when the worker reports."""
        pending, self.pending_stores = self.pending_stores, []
        for store in pending:
            self.wait(store.job_id)
            self.manager.complete_store(store.keys, store.req_context)
            self._release(store.block_ids)

    def wait(self, job_id: int, timeout: float = 10.0) -> Any:
        """The job's result, once `get_finished` reported it."""
        self.worker.wait({job_id})
        deadline = time.monotonic() + timeout
        while job_id not in self.results:
            for result in self.worker.get_finished():
                self.results[result.job_id] = result
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} was never reported finished")
            time.sleep(0.001)
        return self.results[job_id]

    def _lookup(
        self, keys: list[OffloadKey], req_context: ReqContext, num_tokens: int, num_computed: int
    ) -> int | None:
        """vLLM's `_lookup_complete_chunks` for one full-attention group: tokens to load, None to defer."""
        tokens_per_chunk = self.tokens_per_chunk
        max_hit = min(num_tokens, len(keys) * tokens_per_chunk)
        if max_hit - num_computed < tokens_per_chunk:
            return 0
        start = num_computed // tokens_per_chunk
        hits, deferred = 0, False
        for key in keys[start : min(cdiv(max_hit, tokens_per_chunk), len(keys))]:
            result = self.manager.lookup(key, req_context)
            if result is LookupResult.HIT:
                hits += 1
            elif result is LookupResult.HIT_PENDING:
                hits += 1
                deferred = True
            elif result is LookupResult.RETRY:
                deferred = True
            else:
                break
        if deferred:
            return None
        hit = min(max_hit, tokens_per_chunk * (start + hits)) - num_computed
        return hit if hits and hit >= tokens_per_chunk else 0

    def _compute(self, block_hash: bytes, block_id: int) -> None:
        for tensor, page in enumerate(self.tensors):
            page[block_id] = expected_page(block_hash, tensor, page.shape[1]).view(np.int8)

    def _release(self, block_ids: list[int]) -> None:
        for block_id in block_ids:  # freed blocks get reused: scribble over them
            for page in self.tensors:
                page[block_id] = 0
        self.free.extend(block_ids)

    def _job(self) -> int:
        job = self._next_job
        self._next_job += 1
        return job
