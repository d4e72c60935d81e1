"""Stand-ins for vLLM's offloading classes (fields and signatures as in vLLM 0.11.0's vllm/v1/kv_offload),
and a small engine that drives a manager and a worker in the order vLLM's OffloadingConnector does, over
numpy arrays laid out like vLLM's per-layer GPU KV caches."""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from kvtier.vllm._vllm import VllmApi


class FakeLoadStoreSpec(ABC):
    @staticmethod
    @abstractmethod
    def medium() -> str: ...


class FakeBlockIDsLoadStoreSpec(FakeLoadStoreSpec, ABC):
    def __init__(self, block_ids: list[int]) -> None:
        self.block_ids = np.array(block_ids, dtype=np.int64)


class FakeGPULoadStoreSpec(FakeBlockIDsLoadStoreSpec):
    @staticmethod
    def medium() -> str:
        return "GPU"


@dataclass
class FakePrepareStoreOutput:
    block_hashes_to_store: list[Any]
    store_spec: Any
    block_hashes_evicted: list[Any]


@dataclass
class FakeOffloadingEvent:
    block_hashes: list[Any]
    block_size: int
    medium: str
    removed: bool


@dataclass
class FakeTransferResult:
    """The dataclass form some later vLLM releases use instead of a (job_id, success) tuple."""

    job_id: int
    success: bool


class FakeOffloadingManager(ABC):
    @abstractmethod
    def lookup(self, block_hashes: Iterable[Any]) -> int: ...

    @abstractmethod
    def prepare_load(self, block_hashes: Iterable[Any]) -> Any: ...

    def touch(self, block_hashes: Iterable[Any]) -> None:
        return

    def complete_load(self, block_hashes: Iterable[Any]) -> None:
        return

    @abstractmethod
    def prepare_store(self, block_hashes: Iterable[Any]) -> Any: ...

    def complete_store(self, block_hashes: Iterable[Any], success: bool = True) -> None:
        return

    def take_events(self) -> Iterable[Any]:
        return ()


class FakeOffloadingHandler(ABC):
    @abstractmethod
    def transfer_async(self, job_id: int, spec: tuple[Any, Any]) -> bool: ...

    @abstractmethod
    def get_finished(self) -> list[Any]: ...


class FakeOffloadingSpec(ABC):
    """vLLM 0.11.0's OffloadingSpec.__init__, attribute for attribute."""

    def __init__(self, vllm_config: Any) -> None:
        self.vllm_config = vllm_config
        self.extra_config = vllm_config.kv_transfer_config.kv_connector_extra_config
        self.gpu_block_size = vllm_config.cache_config.block_size
        self.offloaded_block_size = int(self.extra_config.get("block_size", self.gpu_block_size))
        assert self.offloaded_block_size % self.gpu_block_size == 0

    @abstractmethod
    def get_manager(self) -> Any: ...

    @abstractmethod
    def get_handlers(self, kv_caches: Any) -> Iterator[tuple[Any, Any, Any]]: ...


def fake_api(*, dataclass_results: bool = False) -> VllmApi:
    return VllmApi(
        load_store_spec=FakeLoadStoreSpec,
        block_ids_load_store_spec=FakeBlockIDsLoadStoreSpec,
        gpu_load_store_spec=FakeGPULoadStoreSpec,
        prepare_store_output=FakePrepareStoreOutput,
        offloading_event=FakeOffloadingEvent,
        offloading_manager=FakeOffloadingManager,
        offloading_spec=FakeOffloadingSpec,
        offloading_handler=FakeOffloadingHandler,
        transfer_result=FakeTransferResult if dataclass_results else None,
        version="fake",
    )


def fake_vllm_config(
    extra: dict[str, Any], *, gpu_block_size: int = 4, world_size: int = 1, events: bool = True
) -> SimpleNamespace:
    return SimpleNamespace(
        kv_transfer_config=SimpleNamespace(kv_connector_extra_config=extra),
        cache_config=SimpleNamespace(block_size=gpu_block_size),
        parallel_config=SimpleNamespace(world_size=world_size),
        kv_events_config=SimpleNamespace(enable_kv_cache_events=events),
    )


def result_pair(result: Any) -> tuple[int, bool]:
    if isinstance(result, tuple):
        return int(result[0]), bool(result[1])
    return int(result.job_id), bool(result.success)


class FakeWorker:
    """vLLM's OffloadingWorker: routes a transfer by (src medium, dst medium) to a registered handler."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []
        self.by_type: dict[tuple[str, str], Any] = {}
        self.results: dict[int, bool] = {}
        self._next_job = 0

    def register_handler(self, src_cls: Any, dst_cls: Any, handler: Any) -> None:
        transfer_type = (src_cls.medium(), dst_cls.medium())
        assert transfer_type not in self.by_type
        self.by_type[transfer_type] = handler
        if handler not in self.handlers:
            self.handlers.append(handler)

    def submit(self, spec: tuple[Any, Any]) -> int:
        job_id = self._next_job
        self._next_job += 1
        handler = self.by_type[(spec[0].medium(), spec[1].medium())]
        assert handler.transfer_async(job_id, spec)
        return job_id

    def wait(self, job_id: int, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while job_id not in self.results:
            for handler in self.handlers:
                for result in handler.get_finished():
                    done_id, success = result_pair(result)
                    self.results[done_id] = success
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} did not finish")
            time.sleep(0.001)
        return self.results.pop(job_id)


def chain_hashes(tokens: list[int], gpu_block_size: int) -> list[bytes]:
    """vLLM-style prefix hashes (bytes) of every full GPU block."""
    hashes: list[bytes] = []
    previous = b"root"
    for start in range(0, len(tokens) - gpu_block_size + 1, gpu_block_size):
        chunk = np.asarray(tokens[start : start + gpu_block_size], dtype=np.int64).tobytes()
        previous = hashlib.sha256(previous + chunk).digest()
        hashes.append(previous)
    return hashes


def expected_block(block_hash: bytes, layer: int, shape: tuple[int, ...], dtype: Any) -> npt.NDArray[Any]:
    """The KV a model would compute for one GPU block of one layer: fixed by the prefix hash."""
    seed = int.from_bytes(hashlib.sha256(block_hash + bytes([layer])).digest()[:8], "little")
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8)
    block: npt.NDArray[Any] = raw.view(dtype).reshape(shape)
    return block


@dataclass
class RequestOutcome:
    hits: int = 0
    load_ok: bool | None = None
    gpu_matches: bool = False
    stored: int = 0
    store_ok: bool | None = None
    load_spec: Any = None
    store_output: Any = None


@dataclass
class FakeEngine:
    """One request at a time through the OffloadingConnector's scheduler and worker steps (vLLM 0.12's
    order; 0.11.0 makes the same manager calls): touch + lookup, allocate, prepare_load -> load ->
    complete_load, compute the rest, prepare_store (from the next block not stored) -> store ->
    complete_store, touch."""

    manager: Any
    worker: FakeWorker
    layers: list[tuple[npt.NDArray[Any], int]]
    gpu_block_size: int
    factor: int
    free: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        array, dim = self.layers[0]
        self.free = list(range(array.shape[dim]))

    @property
    def offloaded_block_size(self) -> int:
        return self.gpu_block_size * self.factor

    def gpu_block(self, layer: int, block_id: int) -> npt.NDArray[Any]:
        array, dim = self.layers[layer]
        block: npt.NDArray[Any] = np.take(array, block_id, axis=dim)
        return block

    def run(self, tokens: list[int], *, gpu_cached_blocks: int = 0) -> RequestOutcome:
        outcome = RequestOutcome()
        gpu_hashes = chain_hashes(tokens, self.gpu_block_size)
        offloaded = gpu_hashes[self.factor - 1 :: self.factor]
        num_blocks = len(tokens) // self.offloaded_block_size
        self.manager.touch(iter(offloaded))
        computed_tokens = gpu_cached_blocks * self.gpu_block_size
        start = computed_tokens // self.offloaded_block_size
        hits = self.manager.lookup(iter(offloaded[start:]))
        if self.offloaded_block_size * (start + hits) - computed_tokens < self.offloaded_block_size:
            hits = 0
        outcome.hits = hits
        block_ids = [self.free.pop() for _ in gpu_hashes]
        for index in range(gpu_cached_blocks):  # the GPU prefix cache already holds these
            self._compute(gpu_hashes[index], block_ids[index])
        computed_blocks = gpu_cached_blocks
        if hits:
            loading = offloaded[start : start + hits]
            outcome.load_spec = self.manager.prepare_load(iter(loading))
            dst = FakeGPULoadStoreSpec(block_ids[gpu_cached_blocks : (start + hits) * self.factor])
            outcome.load_ok = self.worker.wait(self.worker.submit((outcome.load_spec, dst)))
            self.manager.complete_load(loading)
            computed_blocks = (start + hits) * self.factor
        for index in range(computed_blocks, len(gpu_hashes)):
            self._compute(gpu_hashes[index], block_ids[index])
        outcome.gpu_matches = all(
            np.array_equal(
                self.gpu_block(layer, block_id).view(np.uint8),
                expected_block(
                    block_hash, layer, self.gpu_block(layer, block_id).shape, self.layers[layer][0].dtype
                ).view(np.uint8),
            )
            for block_hash, block_id in zip(gpu_hashes, block_ids, strict=True)
            for layer in range(len(self.layers))
        )
        first_new = start + hits if hits else 0
        new_hashes = offloaded[first_new:num_blocks]
        output = self.manager.prepare_store(iter(new_hashes))
        outcome.store_output = output
        if output is not None and output.block_hashes_to_store:
            wanted = set(output.block_hashes_to_store)
            src_ids: list[int] = []
            for index, block_hash in enumerate(new_hashes):
                if block_hash in wanted:
                    first_gpu = (first_new + index) * self.factor
                    src_ids.extend(block_ids[first_gpu : first_gpu + self.factor])
            job = self.worker.submit((FakeGPULoadStoreSpec(src_ids), output.store_spec))
            outcome.store_ok = self.worker.wait(job)
            self.manager.complete_store(output.block_hashes_to_store)  # vLLM passes no success flag
            outcome.stored = len(output.block_hashes_to_store)
        self.manager.touch(iter(offloaded[:num_blocks]))
        for block_id in block_ids:  # freed blocks get reused: scribble over them
            for array, dim in self.layers:
                np.moveaxis(array, dim, 0)[block_id] = 0
        self.free.extend(block_ids)
        return outcome

    def _compute(self, block_hash: bytes, block_id: int) -> None:
        for layer, (array, dim) in enumerate(self.layers):
            view = np.moveaxis(array, dim, 0)
            view[block_id] = expected_block(block_hash, layer, view.shape[1:], array.dtype)


def gpu_layers(num_blocks: int, gpu_block_size: int) -> list[tuple[npt.NDArray[Any], int]]:
    """Two layers as vLLM lays them out: FlashAttention's (2, num_blocks, block_size, heads, head_dim) in
    float16, and an MLA-style (num_blocks, block_size, dim) in float32."""
    return [
        (np.zeros((2, num_blocks, gpu_block_size, 2, 8), dtype=np.float16), 1),
        (np.zeros((num_blocks, gpu_block_size, 12), dtype=np.float32), 0),
    ]
