"""The worker side: copies KV blocks between vLLM's paged GPU cache and kvtier's slots, off the model's
thread, and reports each job through `get_finished` as vLLM's `OffloadingHandler` does.

A kvtier block is one offloaded block: `block_size_factor` GPU blocks in a row of one request, each
GPU block being its bytes in every layer, concatenated in layer order. The handler sees the GPU cache
through `PagedKV` (a gather/scatter of whole GPU blocks into host memory), so the same code serves
torch tensors in a server (`TorchPagedKV`, torch imported lazily) and numpy arrays in tests
(`NumpyPagedKV`).

Failures never pass bad bytes on: a load whose disk block fails its checksum (or whose read raises)
stops, reports the slot to the manager (which then drops the block at `complete_load`), and finishes as
`(job_id, False)`; a store whose gather or write fails reports its unwritten slots, which the manager
releases at `complete_store`. Note that vLLM 0.11/0.12's connector asserts every job succeeded, so there a
failed job stops the engine instead of serving a wrong KV cache.
"""

from __future__ import annotations

import importlib
import logging
import threading
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from kvtier.blocks import BlockLocation, CorruptBlockError
from kvtier.vllm.shared import StoreHandle

logger = logging.getLogger(__name__)

IdArray = npt.NDArray[np.int64]
U8Array = npt.NDArray[np.uint8]

GPU_MEDIUM = "GPU"
"""`GPULoadStoreSpec.medium()` in vLLM."""


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


def _layer_dims(shapes: Sequence[tuple[int, ...]], block_dims: int | Sequence[int]) -> list[int]:
    dims = [block_dims] * len(shapes) if isinstance(block_dims, int) else list(block_dims)
    if len(dims) != len(shapes):
        raise ValueError(f"{len(shapes)} layers but {len(dims)} block dimensions")
    if not shapes:
        raise ValueError("a paged KV cache needs at least one layer")
    counts = {shape[dim] for shape, dim in zip(shapes, dims, strict=True)}
    if len(counts) != 1:
        raise ValueError(f"the layers disagree on the number of blocks: {sorted(counts)}")
    return dims


class NumpyPagedKV:
    """A paged KV cache of numpy arrays, one per layer, with the block index on axis `block_dims` (0 for
    (num_blocks, ...), 1 for FlashAttention's (2, num_blocks, ...)): the GPU cache's stand-in in tests,
    laid out like the real one."""

    def __init__(self, layers: Sequence[npt.NDArray[Any]], block_dims: int | Sequence[int] = 0) -> None:
        self._layers = list(layers)
        self._dims = _layer_dims([layer.shape for layer in self._layers], block_dims)
        self._nbytes = [
            layer.nbytes // layer.shape[dim] for layer, dim in zip(self._layers, self._dims, strict=True)
        ]

    @property
    def num_blocks(self) -> int:
        return int(self._layers[0].shape[self._dims[0]])

    @property
    def block_nbytes(self) -> int:
        return sum(self._nbytes)

    def fence(self) -> object:
        return None

    def gather(self, block_ids: IdArray, out: U8Array, fence: object) -> None:
        column = 0
        for layer, dim, nbytes in zip(self._layers, self._dims, self._nbytes, strict=True):
            picked = np.ascontiguousarray(np.moveaxis(np.take(layer, block_ids, axis=dim), dim, 0))
            out[:, column : column + nbytes] = picked.view(np.uint8).reshape(len(block_ids), nbytes)
            column += nbytes

    def scatter(self, block_ids: IdArray, data: U8Array, fence: object) -> None:
        column = 0
        for layer, dim, nbytes in zip(self._layers, self._dims, self._nbytes, strict=True):
            block_shape = layer.shape[:dim] + layer.shape[dim + 1 :]
            part = np.ascontiguousarray(data[:, column : column + nbytes])
            np.moveaxis(layer, dim, 0)[block_ids] = part.view(layer.dtype).reshape(
                len(block_ids), *block_shape
            )
            column += nbytes


class TorchPagedKV:
    """vLLM's per-layer KV tensors on a CUDA device. Copies run on a side stream that first waits for the
    work queued before the transfer was submitted (the `fence`), so they overlap the model's next steps
    without reading blocks still being written. torch is imported here only, when vLLM hands over tensors."""

    def __init__(self, tensors: Sequence[Any], block_dims: int | Sequence[int]) -> None:
        self._torch: Any = importlib.import_module("torch")
        self._tensors = list(tensors)
        self._dims = _layer_dims([tuple(tensor.shape) for tensor in self._tensors], block_dims)
        self._nbytes = [
            tensor.numel() * tensor.element_size() // tensor.shape[dim]
            for tensor, dim in zip(self._tensors, self._dims, strict=True)
        ]
        self._device = self._tensors[0].device
        self._stream: Any = self._torch.cuda.Stream(device=self._device)

    @property
    def num_blocks(self) -> int:
        return int(self._tensors[0].shape[self._dims[0]])

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
            for tensor, dim, nbytes in zip(self._tensors, self._dims, self._nbytes, strict=True):
                picked = tensor.index_select(dim, index).movedim(dim, 0).contiguous()
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
            for tensor, dim, nbytes in zip(self._tensors, self._dims, self._nbytes, strict=True):
                block_shape = tuple(tensor.shape[:dim]) + tuple(tensor.shape[dim + 1 :])
                part = torch.from_numpy(np.ascontiguousarray(data[:, column : column + nbytes]))
                blocks = part.to(self._device).view(tensor.dtype).reshape(count, *block_shape)
                tensor.index_copy_(dim, index, blocks.movedim(0, dim))
                column += nbytes
            self._stream.synchronize()


def kv_block_dim(shape: Sequence[int], backend: Any = None) -> int:
    """Which axis of a layer's KV tensor indexes blocks: asked of the attention backend's
    `get_kv_cache_shape` (as vLLM's own CPU handler does) when there is one, else read from the shape:
    (2, num_blocks, ...) keeps K and V apart (FlashAttention), anything else leads with num_blocks."""
    if backend is not None:
        try:
            probe = tuple(
                backend.get_kv_cache_shape(num_blocks=1234, block_size=16, num_kv_heads=8, head_size=256)
            )
        except Exception:
            probe = ()
        if len(probe) == len(shape) and probe.count(1234) == 1:
            return probe.index(1234)
    return 1 if len(shape) >= 3 and shape[0] == 2 else 0


def paged_kv_from_vllm(
    kv_caches: Mapping[str, Any], attn_backends: Mapping[str, Any] | None = None
) -> PagedKV:
    """A `PagedKV` over vLLM's `kv_caches` (layer name -> tensor); layers sharing one tensor count once.
    numpy arrays (tests) give a `NumpyPagedKV`, anything else is taken for torch tensors."""
    seen: set[int] = set()
    layers: list[Any] = []
    dims: list[int] = []
    for name, tensor in kv_caches.items():
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        layers.append(tensor)
        dims.append(kv_block_dim(tuple(tensor.shape), (attn_backends or {}).get(name)))
    if layers and all(isinstance(layer, np.ndarray) for layer in layers):
        return NumpyPagedKV(layers, dims)
    return TorchPagedKV(layers, dims)


ResultFactory = Callable[[int, bool], Any]


def tuple_result(job_id: int, success: bool) -> tuple[int, bool]:
    """vLLM 0.11/0.12's TransferResult: a (job_id, success) tuple."""
    return (job_id, success)


class KvtierTransferHandler:
    """vLLM's `OffloadingHandler` for both directions between the GPU cache and a kvtier store.

    `transfer_async(job_id, (src, dst))` takes vLLM's `GPULoadStoreSpec` (GPU block ids) on one side and a
    `KvtierLoadStoreSpec` (slots) on the other, and queues the copy on a thread pool; `get_finished()`
    returns the jobs done since the last call as `result(job_id, success)`. A load may leave out the first
    GPU blocks of its first offloaded block (vLLM loads only what its GPU prefix cache lacks)."""

    def __init__(
        self,
        handle: StoreHandle,
        kv: PagedKV,
        *,
        block_size_factor: int = 1,
        workers: int = 4,
        result: ResultFactory = tuple_result,
        chunk_bytes: int = 64 << 20,
    ) -> None:
        if block_size_factor < 1:
            raise ValueError(f"block_size_factor must be >= 1, got {block_size_factor}")
        block_bytes = block_size_factor * kv.block_nbytes
        if handle.store.block_bytes != block_bytes:
            raise ValueError(
                f"the store holds {handle.store.block_bytes}-byte blocks, but {block_size_factor} GPU blocks "
                f"of this KV cache are {block_bytes} bytes"
            )
        self.store = handle.store
        self._failures = handle.failures
        self._kv = kv
        self.block_size_factor = block_size_factor
        self._chunk = max(1, chunk_bytes // block_bytes)
        """Offloaded blocks staged in host memory at once per job."""
        self._result = result
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kvtier-vllm")
        self._lock = threading.Lock()
        self._finished: list[tuple[int, bool]] = []
        self._running: dict[int, Future[bool]] = {}

    # --- vLLM's OffloadingHandler ------------------------------------------------------------------------

    def transfer_async(self, job_id: int, spec: tuple[Any, Any]) -> bool:
        """Queues one transfer; False (nothing queued) when the spec is not GPU <-> kvtier or its sizes
        do not match."""
        src, dst = spec
        try:
            job = self._plan(src, dst)
        except (TypeError, ValueError, AttributeError) as error:
            logger.error("kvtier: refusing transfer %d: %s", job_id, error)
            return False
        fence = self._kv.fence()
        with self._lock:
            future = self._pool.submit(job, fence)
            self._running[job_id] = future
        future.add_done_callback(lambda done: self._done(job_id, done))
        return True

    def get_finished(self) -> list[Any]:
        with self._lock:
            finished, self._finished = self._finished, []
        return [self._result(job_id, success) for job_id, success in finished]

    def wait(self, job_ids: Iterable[int]) -> None:
        """Blocks until the given jobs are done (they still show up in `get_finished`)."""
        with self._lock:
            futures = [self._running[job_id] for job_id in job_ids if job_id in self._running]
        wait_futures(futures)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)

    # --- jobs --------------------------------------------------------------------------------------------

    def _plan(self, src: Any, dst: Any) -> Callable[[object], bool]:
        factor = self.block_size_factor
        if src.medium() == GPU_MEDIUM and isinstance(getattr(dst, "locations", None), tuple):
            gpu_ids = _gpu_block_ids(src)
            locations: tuple[BlockLocation, ...] = dst.locations
            if len(gpu_ids) != len(locations) * factor:
                raise ValueError(
                    f"storing {len(locations)} blocks of {factor} GPU blocks needs {len(locations) * factor} "
                    f"GPU block ids, got {len(gpu_ids)}"
                )
            return lambda fence: self._store(gpu_ids, locations, fence)
        if dst.medium() == GPU_MEDIUM and isinstance(getattr(src, "locations", None), tuple):
            gpu_ids = _gpu_block_ids(dst)
            locations = src.locations
            skip = len(locations) * factor - len(gpu_ids)
            if not locations or not 0 <= skip < factor:
                raise ValueError(
                    f"loading {len(locations)} blocks of {factor} GPU blocks fills between "
                    f"{len(locations) * factor - factor + 1} and {len(locations) * factor} GPU blocks, "
                    f"got {len(gpu_ids)} ids"
                )
            return lambda fence: self._load(locations, gpu_ids, skip, fence)
        raise TypeError(f"not a GPU <-> kvtier transfer: {src.medium()} -> {dst.medium()}")

    def _store(self, gpu_ids: IdArray, locations: tuple[BlockLocation, ...], fence: object) -> bool:
        factor, nbytes = self.block_size_factor, self._kv.block_nbytes
        written = 0
        try:
            for start in range(0, len(locations), self._chunk):
                chunk = locations[start : start + self._chunk]
                staged = np.empty((len(chunk) * factor, nbytes), dtype=np.uint8)
                self._kv.gather(gpu_ids[start * factor : (start + len(chunk)) * factor], staged, fence)
                blocks = staged.reshape(len(chunk), factor * nbytes)
                for row, location in enumerate(chunk):
                    self.store.write(location, blocks[row])
                    written += 1
        except Exception:
            logger.exception("kvtier: storing %d blocks failed after %d", len(locations), written)
            for location in locations[written:]:
                self._failures.report(location)
            return False
        return True

    def _load(self, locations: tuple[BlockLocation, ...], gpu_ids: IdArray, skip: int, fence: object) -> bool:
        factor, nbytes = self.block_size_factor, self._kv.block_nbytes
        for start in range(0, len(locations), self._chunk):
            chunk = locations[start : start + self._chunk]
            staged = np.empty((len(chunk), factor * nbytes), dtype=np.uint8)
            for row, location in enumerate(chunk):
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
            # GPU block i of the job is sub-block (i + skip) of the job's offloaded blocks
            first = max(start * factor, skip)
            end = (start + len(chunk)) * factor
            rows = staged.reshape(len(chunk) * factor, nbytes)[first - start * factor :]
            try:
                self._kv.scatter(gpu_ids[first - skip : end - skip], rows, fence)
            except Exception:
                logger.exception("kvtier: copying %d blocks to the GPU failed", len(chunk))
                return False
        return True

    def _done(self, job_id: int, future: Future[bool]) -> None:
        success = False
        if not future.cancelled():
            error = future.exception()
            if error is not None:
                logger.error("kvtier: transfer %d raised", job_id, exc_info=error)
            else:
                success = future.result()
        with self._lock:
            self._running.pop(job_id, None)
            self._finished.append((job_id, success))


def _gpu_block_ids(spec: Any) -> IdArray:
    group_sizes = getattr(spec, "group_sizes", None)
    if group_sizes is not None and len(group_sizes) > 1:
        raise ValueError("kvtier handles one KV cache group; this spec spans several")
    return np.asarray(spec.block_ids, dtype=np.int64).reshape(-1)


def build_handler_class(base: Any) -> type[KvtierTransferHandler]:
    """`KvtierTransferHandler` as a subclass of vLLM's abstract `OffloadingHandler`."""
    built: type[KvtierTransferHandler] = types.new_class(
        "KvtierTransferHandler", (KvtierTransferHandler, base)
    )
    built.__module__ = __name__
    built.__doc__ = KvtierTransferHandler.__doc__
    return built
