"""The worker side: copies KV blocks between vLLM's paged KV cache and kvtier's slots, off the model's
thread, as vLLM 0.32's `OffloadingWorker` (`submit_store` / `submit_load` / `get_finished` / `wait`).

vLLM hands the worker its KV cache as `CanonicalKVCaches`: one (num_blocks, page_bytes) byte tensor per
layer. A kvtier block is one offloaded chunk: `blocks_per_chunk` GPU blocks in a row of one request, each
GPU block being its page in every layer, concatenated in layer order. The worker sees the cache through
`PagedKV` (a gather/scatter of whole blocks into host memory), so one code path serves the CPU backend
(`NumpyPagedKV` over the tensors' memory, no copy of the cache), CUDA devices (`TorchPagedKV`, copies on
a side stream, torch imported lazily) and numpy arrays in the unit tests.

Failures never pass bad bytes on: a load whose disk block fails its checksum (or whose read raises)
stops, reports the slot to the manager (which then drops the block at `complete_load`), and finishes as
failed; a store whose gather or write fails reports its unwritten slots, which the manager releases at
`complete_store`. vLLM 0.32's connector asserts that every job succeeded, so there a failed job stops
the engine instead of serving a wrong KV cache.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from kvtier.blocks import BlockLocation, CorruptBlockError
from kvtier.vllm.shared import StoreHandle

logger = logging.getLogger(__name__)

IdArray = npt.NDArray[np.int64]
U8Array = npt.NDArray[np.uint8]


class PagedKV(Protocol):
    """vLLM's paged KV cache as whole GPU blocks of `block_nbytes` bytes (all layers)."""

    @property
    def num_blocks(self) -> int: ...

    @property
    def block_nbytes(self) -> int: ...

    def fence(self) -> object:
        """Called on the thread that submits a transfer (vLLM's model thread): marks the point in the
        device's work after which the transfer may run."""

    def gather(self, block_ids: IdArray, out: U8Array, fence: object) -> None:
        """Copies GPU blocks `block_ids` into `out`, shape (len(block_ids), block_nbytes), host memory."""

    def scatter(self, block_ids: IdArray, data: U8Array, fence: object) -> None:
        """Copies `data`, shape (len(block_ids), block_nbytes), into GPU blocks `block_ids`; the bytes are
        in place when it returns."""


def _block_rows(shapes: Sequence[tuple[int, ...]]) -> int:
    if not shapes:
        raise ValueError("a paged KV cache needs at least one layer")
    counts = {shape[0] for shape in shapes}
    if len(counts) != 1:
        raise ValueError(f"the layers disagree on the number of blocks: {sorted(counts)}")
    return counts.pop()


class NumpyPagedKV:
    """A paged KV cache of numpy arrays, one per layer, blocks on the leading axis (vLLM's canonical
    (num_blocks, page_bytes) layout; any trailing shape and dtype works). On vLLM's CPU backend the
    arrays are views of the engine's own KV tensors."""

    def __init__(self, layers: Sequence[npt.NDArray[Any]]) -> None:
        self._layers = list(layers)
        self._num_blocks = _block_rows([layer.shape for layer in self._layers])
        self._nbytes = [layer[0].nbytes for layer in self._layers]

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def block_nbytes(self) -> int:
        return sum(self._nbytes)

    def fence(self) -> object:
        return None

    def gather(self, block_ids: IdArray, out: U8Array, fence: object) -> None:
        column = 0
        for layer, nbytes in zip(self._layers, self._nbytes, strict=True):
            picked = np.ascontiguousarray(layer[block_ids])
            out[:, column : column + nbytes] = picked.view(np.uint8).reshape(len(block_ids), nbytes)
            column += nbytes

    def scatter(self, block_ids: IdArray, data: U8Array, fence: object) -> None:
        column = 0
        for layer, nbytes in zip(self._layers, self._nbytes, strict=True):
            part = np.ascontiguousarray(data[:, column : column + nbytes])
            layer[block_ids] = part.view(layer.dtype).reshape(len(block_ids), *layer.shape[1:])
            column += nbytes


class TorchPagedKV:
    """vLLM's canonical KV tensors on a CUDA device. Copies run on a side stream that first waits for the
    work queued before the transfer was submitted (the `fence`), so they overlap the model's next steps
    without reading blocks still being written. torch is imported here only, when vLLM hands over tensors."""

    def __init__(self, tensors: Sequence[Any]) -> None:
        self._torch: Any = importlib.import_module("torch")
        self._tensors = list(tensors)
        self._num_blocks = _block_rows([tuple(tensor.shape) for tensor in self._tensors])
        self._nbytes = [tensor[0].numel() * tensor.element_size() for tensor in self._tensors]
        self._device = self._tensors[0].device
        self._stream: Any = self._torch.cuda.Stream(device=self._device)

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def block_nbytes(self) -> int:
        return sum(self._nbytes)

    def fence(self) -> object:
        event = self._torch.cuda.Event()
        event.record(self._torch.cuda.current_stream(self._device))
        return event

    def gather(self, block_ids: IdArray, out: U8Array, fence: object) -> None:
        torch = self._torch
        count = len(block_ids)
        with torch.cuda.stream(self._stream):
            self._stream.wait_event(fence)
            index = torch.from_numpy(block_ids).to(self._device)
            column = 0
            for tensor, nbytes in zip(self._tensors, self._nbytes, strict=True):
                picked = tensor.index_select(0, index).contiguous()
                host = picked.view(torch.uint8).reshape(count, nbytes).cpu()  # waits for this stream
                out[:, column : column + nbytes] = host.numpy()
                column += nbytes

    def scatter(self, block_ids: IdArray, data: U8Array, fence: object) -> None:
        torch = self._torch
        count = len(block_ids)
        with torch.cuda.stream(self._stream):
            self._stream.wait_event(fence)
            index = torch.from_numpy(block_ids).to(self._device)
            column = 0
            for tensor, nbytes in zip(self._tensors, self._nbytes, strict=True):
                part = torch.from_numpy(np.ascontiguousarray(data[:, column : column + nbytes]))
                blocks = part.to(self._device).view(tensor.dtype).reshape(count, *tensor.shape[1:])
                tensor.index_copy_(0, index, blocks)
                column += nbytes
            self._stream.synchronize()


def paged_kv_from_vllm(kv_caches: Any) -> PagedKV:
    """A `PagedKV` over vLLM's `CanonicalKVCaches` (its `tensors`, each with a `.tensor` of shape
    (num_blocks, page_bytes)). numpy arrays (tests) and CPU tensors give a `NumpyPagedKV` over the same
    memory; tensors on a CUDA device give a `TorchPagedKV`. One KV cache group only."""
    groups = getattr(kv_caches, "group_data_refs", None)
    if groups is not None and len(groups) != 1:
        raise ValueError(f"kvtier handles one KV cache group; this model has {len(groups)}")
    tensors = [entry.tensor for entry in kv_caches.tensors]
    if not tensors:
        raise ValueError("vLLM registered no KV cache tensors")
    if all(isinstance(tensor, np.ndarray) for tensor in tensors):
        return NumpyPagedKV(tensors)
    if all(getattr(tensor.device, "type", None) == "cpu" for tensor in tensors):
        return NumpyPagedKV([tensor.numpy() for tensor in tensors])
    return TorchPagedKV(tensors)


ResultFactory = Callable[..., Any]
"""Builds a job's result from keywords `job_id`, `success`, `transfer_size` (bytes), `transfer_time` (s):
vLLM's `TransferResult` in a server."""


@dataclass(frozen=True, slots=True)
class JobResult:
    """A finished transfer, field for field as vLLM's `TransferResult`: the default result factory."""

    job_id: int
    success: bool
    transfer_size: int | None = None
    transfer_time: float | None = None


class KvtierOffloadingWorker:
    """vLLM's `OffloadingWorker` between the engine's paged KV cache and a kvtier store.

    `submit_store(job_id, gpu_spec, kvtier_spec)` and `submit_load(job_id, kvtier_spec, gpu_spec)` take
    vLLM's `GPULoadStoreSpec` (block ids, one KV cache group) and a `KvtierLoadStoreSpec` (slots), and
    queue the copy on a thread pool; `get_finished()` returns the jobs done since the last call. A load
    may start inside its first offloaded block: vLLM loads only what its own prefix cache lacks and says
    where the first block falls through `block_indices`."""

    def __init__(
        self,
        handle: StoreHandle,
        kv: PagedKV,
        *,
        blocks_per_chunk: int = 1,
        workers: int = 4,
        result: ResultFactory = JobResult,
        chunk_bytes: int = 64 << 20,
    ) -> None:
        if blocks_per_chunk < 1:
            raise ValueError(f"blocks_per_chunk must be >= 1, got {blocks_per_chunk}")
        block_bytes = blocks_per_chunk * kv.block_nbytes
        if handle.store.block_bytes != block_bytes:
            raise ValueError(
                f"the store holds {handle.store.block_bytes}-byte blocks, but {blocks_per_chunk} blocks "
                f"of this KV cache are {block_bytes} bytes"
            )
        self.store = handle.store
        self._failures = handle.failures
        self._kv = kv
        self.blocks_per_chunk = blocks_per_chunk
        self._batch = max(1, chunk_bytes // block_bytes)
        """Offloaded blocks staged in host memory at once per job."""
        self._result = result
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kvtier-vllm")
        self._lock = threading.Lock()
        self._finished: list[Any] = []
        self._running: dict[int, Future[bool]] = {}

    # --- vLLM's OffloadingWorker -------------------------------------------------------------------------

    def submit_store(self, job_id: int, src_spec: Any, dst_spec: Any) -> bool:
        """Queues GPU blocks -> kvtier slots; False (nothing queued) when the specs do not fit."""
        try:
            gpu_ids, skip = _gpu_blocks(src_spec, self.blocks_per_chunk)
            locations = _locations(dst_spec)
            if skip or len(gpu_ids) != len(locations) * self.blocks_per_chunk:
                raise ValueError(
                    f"a store fills whole offloaded blocks: {len(locations)} blocks need "
                    f"{len(locations) * self.blocks_per_chunk} GPU blocks from a chunk boundary, got "
                    f"{len(gpu_ids)} starting {skip} blocks in"
                )
        except (TypeError, ValueError, AttributeError) as error:
            logger.error("kvtier: refusing store %d: %s", job_id, error)
            return False
        size = len(locations) * self.store.block_bytes
        return self._submit(job_id, size, lambda fence: self._store(gpu_ids, locations, fence))

    def submit_load(self, job_id: int, src_spec: Any, dst_spec: Any) -> bool:
        """Queues kvtier slots -> GPU blocks; False (nothing queued) when the specs do not fit."""
        try:
            locations = _locations(src_spec)
            gpu_ids, skip = _gpu_blocks(dst_spec, self.blocks_per_chunk)
            covered = len(locations) * self.blocks_per_chunk
            if not locations or not gpu_ids.size or skip + len(gpu_ids) > covered:
                raise ValueError(
                    f"{len(locations)} offloaded blocks hold {covered} GPU blocks, but the load asks for "
                    f"{len(gpu_ids)} starting {skip} blocks in"
                )
        except (TypeError, ValueError, AttributeError) as error:
            logger.error("kvtier: refusing load %d: %s", job_id, error)
            return False
        size = len(gpu_ids) * self._kv.block_nbytes
        return self._submit(job_id, size, lambda fence: self._load(locations, gpu_ids, skip, fence))

    def get_finished(self) -> list[Any]:
        with self._lock:
            finished, self._finished = self._finished, []
        return finished

    def wait(self, job_ids: Iterable[int]) -> None:
        """Blocks until the given jobs are done (they still show up in `get_finished`)."""
        with self._lock:
            futures = [self._running[job_id] for job_id in job_ids if job_id in self._running]
        wait_futures(futures)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    # --- jobs --------------------------------------------------------------------------------------------

    def _submit(self, job_id: int, size: int, job: Callable[[object], bool]) -> bool:
        fence = self._kv.fence()
        with self._lock:
            self._running[job_id] = self._pool.submit(self._run, job_id, size, job, fence)
        return True

    def _run(self, job_id: int, size: int, job: Callable[[object], bool], fence: object) -> bool:
        """One job on a pool thread; its result is queued before the job's future resolves, so a `wait`
        that returns has the result in `get_finished`."""
        started = time.perf_counter()
        try:
            success = job(fence)
        except Exception:
            logger.exception("kvtier: transfer %d raised", job_id)
            success = False
        result = self._result(
            job_id=job_id,
            success=success,
            transfer_size=size if success else None,
            transfer_time=time.perf_counter() - started if success else None,
        )
        with self._lock:
            self._running.pop(job_id, None)
            self._finished.append(result)
        return success

    def _store(self, gpu_ids: IdArray, locations: tuple[BlockLocation, ...], fence: object) -> bool:
        factor, nbytes = self.blocks_per_chunk, self._kv.block_nbytes
        written = 0
        try:
            for start in range(0, len(locations), self._batch):
                batch = locations[start : start + self._batch]
                staged = np.empty((len(batch) * factor, nbytes), dtype=np.uint8)
                self._kv.gather(gpu_ids[start * factor : (start + len(batch)) * factor], staged, fence)
                blocks = staged.reshape(len(batch), factor * nbytes)
                for row, location in enumerate(batch):
                    self.store.write(location, blocks[row])
                    written += 1
        except Exception:
            logger.exception("kvtier: storing %d blocks failed after %d", len(locations), written)
            for location in locations[written:]:
                self._failures.report(location)
            return False
        return True

    def _load(self, locations: tuple[BlockLocation, ...], gpu_ids: IdArray, skip: int, fence: object) -> bool:
        """GPU block i of the job is sub-block (skip + i) of the job's offloaded blocks."""
        factor, nbytes = self.blocks_per_chunk, self._kv.block_nbytes
        end = skip + len(gpu_ids)
        needed = locations[: -(-end // factor)]
        for start in range(0, len(needed), self._batch):
            batch = needed[start : start + self._batch]
            staged = np.empty((len(batch), factor * nbytes), dtype=np.uint8)
            for row, location in enumerate(batch):
                try:
                    self.store.read_into(location, staged[row])
                except CorruptBlockError as error:
                    logger.warning(
                        "kvtier: %s block failed its checksum (%s); the load fails", location, error
                    )
                    self._failures.report(location)
                    return False
                except Exception:
                    logger.exception("kvtier: reading %s failed; the load fails", location)
                    self._failures.report(location)
                    return False
            first_sub = start * factor  # sub-block index of the batch's first row
            lo, hi = max(first_sub, skip), min(first_sub + len(batch) * factor, end)
            rows = staged.reshape(len(batch) * factor, nbytes)[lo - first_sub : hi - first_sub]
            try:
                self._kv.scatter(gpu_ids[lo - skip : hi - skip], rows, fence)
            except Exception:
                logger.exception("kvtier: copying %d blocks into the KV cache failed", hi - lo)
                return False
        return True


def _gpu_blocks(spec: Any, blocks_per_chunk: int) -> tuple[IdArray, int]:
    """A `GPULoadStoreSpec`'s block ids and how many GPU blocks into its first offloaded block it starts."""
    group_sizes = getattr(spec, "group_sizes", None)
    if group_sizes is not None and len(group_sizes) > 1:
        raise ValueError("kvtier handles one KV cache group; this spec spans several")
    ids = np.asarray(spec.block_ids, dtype=np.int64).reshape(-1)
    indices = getattr(spec, "block_indices", None)
    first = int(indices[0]) if indices is not None and len(indices) else 0
    return ids, first % blocks_per_chunk


def _locations(spec: Any) -> tuple[BlockLocation, ...]:
    locations = getattr(spec, "locations", None)
    if not isinstance(locations, tuple):
        raise TypeError(f"not a kvtier spec: {type(spec).__name__}")
    return locations
