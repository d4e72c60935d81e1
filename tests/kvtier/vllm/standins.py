"""Stand-ins for the vLLM 0.32 classes kvtier's integration uses, so the fast tests run without vllm.

Each mirrors its vLLM original's name, fields and signatures exactly, trimmed to what kvtier reads or
builds (fields it never touches are left out, never renamed):

- `vllm/v1/kv_offload/base.py`: `OffloadKey`, `make_offload_key`, `Medium`, `ReqContext`, `LookupResult`,
  `OffloadPolicy`, `RequestOffloadingContext`, `LoadStoreSpec`, `PrepareStoreOutput`, `OffloadingEvent`,
  `OffloadingCounterMetadata`, `OffloadingGaugeMetadata`, `OffloadingKVEventsConfig`, `OffloadingManager`,
  `BlockIDsLoadStoreSpec`, `GPULoadStoreSpec`, `CanonicalKVCacheTensor`, `CanonicalKVCacheRef`,
  `CanonicalKVCaches`, `TransferResult`, `OffloadingWorker`, `OffloadingSpec`;
- `vllm/v1/kv_offload/config.py`: `OffloadingGroupConfig`, `OffloadingModelConfig`,
  `OffloadingCacheConfig`, `OffloadingParallelConfig`, `OffloadingConfig`;
- `vllm/v1/metrics/cache_hit_source.py`: `CacheHitSource`;
- `vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py`: `OffloadingConnectorStats` (its
  `increase_counter` / `set_gauge`, over the same `data` layout).

`standin_api()` hands them to kvtier's builders as `kvtier.vllm._vllm.load_vllm_api` hands vLLM's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import Any, NewType, TypeVar

import numpy as np

from kvtier.vllm._vllm import VllmApi

# --- vllm/v1/kv_offload/base.py -------------------------------------------------------------------

OffloadKey = NewType("OffloadKey", bytes)


def make_offload_key(block_hash: bytes, group_idx: int) -> OffloadKey:
    return OffloadKey(block_hash + group_idx.to_bytes(4, "big", signed=False))


_T = TypeVar("_T")


class Medium(Enum):
    CPU = "CPU"
    STORAGE = "STORAGE"


@dataclass
class ReqContext:
    req_id: str
    kv_transfer_params: dict[str, Any] | None = None
    _state: dict[type, Any] = field(default_factory=dict, repr=False, init=False)
    _offload_key_positions: dict[OffloadKey, int] = field(default_factory=dict, repr=False, init=False)

    def set_state(self, val: Any) -> None:
        self._state[type(val)] = val

    def get_state(self, cls: type[_T]) -> _T | None:
        return self._state.get(cls)

    def set_offload_key_position(self, key: OffloadKey, end_token: int) -> None:
        self._offload_key_positions[key] = end_token

    def get_offload_key_position(self, key: OffloadKey) -> int | None:
        return self._offload_key_positions.get(key)


class LookupResult(Enum):
    MISS = auto()
    HIT = auto()
    HIT_PENDING = auto()
    RETRY = auto()


class OffloadPolicy(Enum):
    CHUNK_LEVEL = "chunk_level"
    REQUEST_LEVEL = "request_level"


@dataclass
class RequestOffloadingContext:
    policy: OffloadPolicy = OffloadPolicy.CHUNK_LEVEL


class LoadStoreSpec:
    """Metadata that lets a worker load, and optionally store, blocks of KV data."""


@dataclass
class PrepareStoreOutput:
    keys_to_store: list[OffloadKey]
    store_spec: LoadStoreSpec
    evicted_keys: list[OffloadKey]


@dataclass
class OffloadingEvent:
    keys: list[OffloadKey]
    medium: Medium
    removed: bool


@dataclass(frozen=True)
class OffloadingMetricMetadata:
    documentation: str
    labelnames: tuple[str, ...] = ()


@dataclass(frozen=True)
class OffloadingCounterMetadata(OffloadingMetricMetadata):
    pass


@dataclass(frozen=True)
class OffloadingGaugeMetadata(OffloadingMetricMetadata):
    pass


@dataclass(frozen=True)
class OffloadingKVEventsConfig:
    enable_kv_cache_events: bool
    self_describing_kv_events: bool


class OffloadingManager(ABC):
    @abstractmethod
    def lookup(self, key: OffloadKey, req_context: ReqContext) -> LookupResult: ...

    def get_load_source(self, key: OffloadKey, req_context: ReqContext) -> CacheHitSource:
        return CacheHitSource.EXTERNAL_UNSPECIFIED

    @abstractmethod
    def prepare_load(self, keys: Collection[OffloadKey], req_context: ReqContext) -> LoadStoreSpec: ...

    def touch(self, keys: Collection[OffloadKey], req_context: ReqContext) -> None:
        return

    def complete_load(self, keys: Collection[OffloadKey], req_context: ReqContext) -> None:
        return

    @abstractmethod
    def prepare_store(
        self, keys: Collection[OffloadKey], req_context: ReqContext
    ) -> PrepareStoreOutput | None: ...

    def complete_store(
        self, keys: Collection[OffloadKey], req_context: ReqContext, success: bool = True
    ) -> None:
        return

    @abstractmethod
    def on_new_request(self, req_context: ReqContext) -> RequestOffloadingContext: ...

    def on_request_finished(self, req_context: ReqContext) -> None:
        return

    def take_events(self) -> Iterable[OffloadingEvent]:
        return ()

    def reset_cache(self) -> None:
        return

    def get_stats(self) -> OffloadingConnectorStats | None:
        return None


class BlockIDsLoadStoreSpec(LoadStoreSpec, ABC):
    def __init__(self, block_ids: list[int]) -> None:
        self.block_ids = np.array(block_ids, dtype=np.int32)


class GPULoadStoreSpec(BlockIDsLoadStoreSpec):
    def __init__(
        self, block_ids: list[int], group_sizes: Sequence[int], block_indices: Sequence[int]
    ) -> None:
        super().__init__(block_ids)
        assert sum(group_sizes) == len(block_ids)
        assert len(block_indices) == len(group_sizes)
        self.group_sizes: Sequence[int] = group_sizes
        self.block_indices: Sequence[int] = block_indices


@dataclass
class CanonicalKVCacheTensor:
    tensor: Any  # torch.Tensor in vLLM; numpy arrays (or tensor stand-ins) here
    page_size_bytes: int


@dataclass
class CanonicalKVCacheRef:
    tensor_idx: int
    page_size_bytes: int


@dataclass
class CanonicalKVCaches:
    tensors: list[CanonicalKVCacheTensor]
    group_data_refs: list[list[CanonicalKVCacheRef]]


@dataclass
class TransferResult:
    job_id: int
    success: bool
    transfer_size: int | None = None
    transfer_time: float | None = None


class OffloadingWorker(ABC):
    @abstractmethod
    def submit_store(self, job_id: int, src_spec: GPULoadStoreSpec, dst_spec: LoadStoreSpec) -> bool: ...

    @abstractmethod
    def submit_load(self, job_id: int, src_spec: LoadStoreSpec, dst_spec: GPULoadStoreSpec) -> bool: ...

    @abstractmethod
    def get_finished(self) -> list[TransferResult]: ...

    @abstractmethod
    def wait(self, job_ids: set[int]) -> None: ...

    def shutdown(self) -> None:
        return


class OffloadingSpec(ABC):
    @classmethod
    def build_metric_definitions(cls, extra_config: dict[str, Any]) -> dict[str, OffloadingMetricMetadata]:
        return {}

    def __init__(self, config: OffloadingConfig) -> None:
        self.config = config
        self.extra_config = config.extra_config
        self.replicated_layout: bool = False
        self.kv_events_config = OffloadingKVEventsConfig(
            enable_kv_cache_events=config.enable_kv_cache_events,
            self_describing_kv_events=bool(self.extra_config.get("self_describing_kv_events", False)),
        )
        self.offload_prompt_only: bool = bool(self.extra_config.get("offload_prompt_only", True))
        self.tokens_per_block = tuple(group.tokens_per_block for group in config.groups)
        self.tokens_per_hash = config.cache.tokens_per_hash
        self.blocks_per_chunk = config.cache.blocks_per_chunk

    @abstractmethod
    def get_manager(self) -> OffloadingManager: ...

    @abstractmethod
    def get_worker(self, kv_caches: CanonicalKVCaches) -> OffloadingWorker: ...


# --- vllm/v1/kv_offload/config.py -----------------------------------------------------------------


@dataclass(frozen=True)
class OffloadingGroupConfig:
    tokens_per_block: int
    layer_names: tuple[str, ...]
    group_id: int


@dataclass(frozen=True)
class OffloadingModelConfig:
    name: str
    dtype: str


@dataclass(frozen=True)
class OffloadingCacheConfig:
    tokens_per_hash: int
    blocks_per_chunk: int


@dataclass(frozen=True)
class OffloadingParallelConfig:
    rank: int
    world_size: int
    tp_size: int
    pp_size: int
    pcp_size: int
    dcp_size: int
    data_parallel_index: int
    data_parallel_size: int
    data_parallel_rank_local: int | None
    is_parallelism_agnostic: bool


@dataclass(frozen=True)
class OffloadingConfig:
    groups: tuple[OffloadingGroupConfig, ...]
    worker_kv_bytes_per_block: int
    enable_kv_cache_events: bool
    extra_config: Mapping[str, Any]
    engine_id: str
    model: OffloadingModelConfig
    cache: OffloadingCacheConfig
    parallel: OffloadingParallelConfig
    replicated_layout: bool = False
    canonical_layout: bool = False
    kv_cache_layout: str | None = None


# --- vllm/v1/metrics/cache_hit_source.py ----------------------------------------------------------


class CacheHitSource(str, Enum):  # noqa: UP042 - as vLLM declares it
    DEVICE = "device"
    HOST = "host"
    P2P = "p2p"
    DISK = "disk"
    EXTERNAL_UNSPECIFIED = "external_unspecified"


# --- vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py ---------------------------


@dataclass
class OffloadingConnectorStats:
    """`data` is {"types": {name: "counter" | "gauge"}, "data": {name: {labelvalues: value}}}, as vLLM's."""

    data: dict[str, Any] = field(default_factory=lambda: {"types": {}, "data": {}})

    def is_empty(self) -> bool:
        return not self.data.get("data")

    def increase_counter(
        self, counter_name: str, counter_increase_value: int | float = 1, labelvalues: tuple[str, ...] = ()
    ) -> None:
        self.data["types"].setdefault(counter_name, "counter")
        values = self.data["data"].setdefault(counter_name, {})
        values[labelvalues] = values.get(labelvalues, 0) + counter_increase_value

    def set_gauge(self, gauge_name: str, gauge_value: int | float, labelvalues: tuple[str, ...] = ()) -> None:
        self.data["types"].setdefault(gauge_name, "gauge")
        self.data["data"].setdefault(gauge_name, {})[labelvalues] = gauge_value


# --- kvtier's view of them ------------------------------------------------------------------------


def standin_api() -> VllmApi:
    """What `kvtier.vllm._vllm.load_vllm_api()` returns, over the stand-ins."""
    return VllmApi(
        load_store_spec=LoadStoreSpec,
        prepare_store_output=PrepareStoreOutput,
        offloading_event=OffloadingEvent,
        offloading_manager=OffloadingManager,
        offloading_spec=OffloadingSpec,
        offloading_worker=OffloadingWorker,
        transfer_result=TransferResult,
        lookup_result=LookupResult,
        request_offloading_context=RequestOffloadingContext,
        event_medium=Medium.CPU,
        hit_sources={
            "device": CacheHitSource.DEVICE,
            "host": CacheHitSource.HOST,
            "disk": CacheHitSource.DISK,
        },
        connector_stats=OffloadingConnectorStats,
        counter_metadata=OffloadingCounterMetadata,
        gauge_metadata=OffloadingGaugeMetadata,
        version="stand-in",
    )


def offloading_config(
    extra: Mapping[str, Any],
    *,
    tokens_per_block: int = 4,
    blocks_per_chunk: int = 2,
    groups: int = 1,
    world_size: int = 1,
    events: bool = True,
) -> OffloadingConfig:
    """An `OffloadingConfig` as vLLM's `build_offloading_config` makes it for a one-worker engine (it
    resolves `block_size` into `blocks_per_chunk` itself)."""
    return OffloadingConfig(
        groups=tuple(
            OffloadingGroupConfig(tokens_per_block, (f"model.layers.{group}.attn",), group)
            for group in range(groups)
        ),
        worker_kv_bytes_per_block=0,
        enable_kv_cache_events=events,
        extra_config=extra,
        engine_id="engine-0",
        model=OffloadingModelConfig("tiny-llama", "float16"),
        cache=OffloadingCacheConfig(tokens_per_hash=tokens_per_block, blocks_per_chunk=blocks_per_chunk),
        parallel=OffloadingParallelConfig(
            rank=0,
            world_size=world_size,
            tp_size=world_size,
            pp_size=1,
            pcp_size=1,
            dcp_size=1,
            data_parallel_index=0,
            data_parallel_size=1,
            data_parallel_rank_local=None,
            is_parallelism_agnostic=False,
        ),
    )
