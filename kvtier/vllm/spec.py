"""`KvtierOffloadingSpec`: the class vLLM's `OffloadingConnector` loads by `spec_name` and
`spec_module_path`, and the parsing of its `kv_connector_extra_config`.

The real class subclasses vLLM's `OffloadingSpec`, so it is built on first access to
`kvtier.vllm.spec.KvtierOffloadingSpec` (a module `__getattr__`), which vLLM's factory does with
`getattr(module, spec_name)` once vllm is loaded. Importing this module never imports vllm or torch:
`parse_extra_config` and `build_spec_class` (given fakes) work without them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kvtier.policies import make_policy
from kvtier.store import TieredStore, TierKind, TierSpec
from kvtier.vllm._vllm import VllmApi, load_vllm_api, over_vllm_base
from kvtier.vllm.handlers import KvtierOffloadingWorker, paged_kv_from_vllm
from kvtier.vllm.manager import KvtierLoadStoreSpec, KvtierOffloadingManager, OffloadTypes
from kvtier.vllm.metrics import metric_definitions
from kvtier.vllm.shared import StoreHandle, find_shared_store, open_shared_store

SPEC_NAME = "KvtierOffloadingSpec"
SPEC_MODULE_PATH = __name__

VLLM_KEYS = frozenset(
    {
        "spec_name",
        "spec_module_path",
        "block_size",
        "blocks_per_chunk",
        "offload_prompt_only",
        "self_describing_kv_events",
        "canonical_layout",
    }
)
"""Keys of kv_connector_extra_config that vLLM's offloading connector reads and checks itself (vLLM 0.32):
the spec's name and module, the offloaded block size (`block_size` in tokens or `blocks_per_chunk`), and
its offload and event options."""

_TIERS: tuple[TierKind, ...] = ("device", "host", "disk")


class KvtierConfigError(ValueError):
    """A bad value in kv_connector_extra_config; the message names the key."""


@dataclass(frozen=True, slots=True)
class KvtierConfig:
    """The store a `kv_connector_extra_config` asks for (see `kvtier.vllm` for each key). Hashable: it
    names the shared store that the scheduler side and the worker side of one engine use."""

    host_blocks: int | None = None
    host_bytes: int | None = None
    disk_blocks: int | None = None
    disk_bytes: int | None = None
    device_blocks: int | None = None
    device_bytes: int | None = None
    disk_path: str | None = None
    policy: str = "lru"
    host_policy: str | None = None
    disk_policy: str | None = None
    device_policy: str | None = None
    pin_memory: bool = False
    workers: int = 4

    def capacity(self, tier: TierKind) -> tuple[int | None, int | None]:
        """(blocks, bytes) configured for `tier`; at most one is set."""
        blocks = cast(int | None, getattr(self, f"{tier}_blocks"))
        size = cast(int | None, getattr(self, f"{tier}_bytes"))
        return blocks, size

    def tier_policy(self, tier: TierKind) -> str:
        override = cast(str | None, getattr(self, f"{tier}_policy"))
        return override if override is not None else self.policy

    def tiers(self) -> list[TierSpec]:
        """The store's tiers, fastest first; a tier with zero capacity is left out."""
        specs = []
        for tier in _TIERS:
            blocks, size = self.capacity(tier)
            if not blocks and not size:
                continue
            specs.append(
                TierSpec(
                    tier,
                    capacity_blocks=blocks or None,
                    capacity_bytes=size or None,
                    policy=self.tier_policy(tier),
                    path=_arena_path(self.disk_path) if tier == "disk" else None,
                    pin_memory=self.pin_memory if tier == "host" else False,
                )
            )
        return specs

    def open_store(self, block_bytes: int) -> TieredStore:
        return TieredStore(block_bytes, self.tiers(), workers=self.workers)


def _arena_path(disk_path: str | None) -> Path | None:
    """The disk arena's file: `disk_path` itself, or a per-process file inside it when it is a directory
    (so that several engines, e.g. data-parallel ranks, can share one directory)."""
    if disk_path is None:
        return None
    path = Path(disk_path).expanduser()
    if path.is_dir():
        return path / f"kvtier-{os.getpid()}.arena"
    return path


def parse_extra_config(extra: Mapping[str, Any]) -> KvtierConfig:
    """Validates vLLM's `kv_connector_extra_config` for kvtier; raises `KvtierConfigError` naming the key."""
    known = set(KvtierConfig.__slots__) | VLLM_KEYS
    unknown = sorted(set(extra) - known)
    if unknown:
        raise KvtierConfigError(
            f"unknown kv_connector_extra_config key(s) {', '.join(map(repr, unknown))}; "
            f"kvtier knows: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for tier in _TIERS:
        for unit in ("blocks", "bytes"):
            key = f"{tier}_{unit}"
            if key in extra:
                values[key] = _int(extra, key, minimum=0)
        if values.get(f"{tier}_blocks") and values.get(f"{tier}_bytes"):
            raise KvtierConfigError(f"give one of {tier}_blocks and {tier}_bytes, not both")
    if not any(values.values()):
        raise KvtierConfigError(
            "kvtier needs at least one tier: set host_blocks (or host_bytes), disk_blocks (or disk_bytes) "
            "or device_blocks (or device_bytes) in kv_connector_extra_config"
        )
    if "disk_path" in extra:
        disk_path = extra["disk_path"]
        if not isinstance(disk_path, str) or not disk_path:
            raise KvtierConfigError(
                f"kv_connector_extra_config['disk_path'] must be a path, got {disk_path!r}"
            )
        if not values.get("disk_blocks") and not values.get("disk_bytes"):
            raise KvtierConfigError("disk_path is set but the disk tier has no capacity: set disk_blocks")
        values["disk_path"] = disk_path
    for key in ("policy", "host_policy", "disk_policy", "device_policy"):
        if key in extra:
            values[key] = _policy(extra, key)
    if "pin_memory" in extra:
        if not isinstance(extra["pin_memory"], bool):
            raise KvtierConfigError(
                f"kv_connector_extra_config['pin_memory'] must be true or false, got {extra['pin_memory']!r}"
            )
        values["pin_memory"] = extra["pin_memory"]
    if "workers" in extra:
        values["workers"] = _int(extra, "workers", minimum=1)
    return KvtierConfig(**values)


def _int(extra: Mapping[str, Any], key: str, *, minimum: int) -> int:
    value = extra[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise KvtierConfigError(
            f"kv_connector_extra_config[{key!r}] must be an integer >= {minimum}, got {value!r}"
        )
    return value


def _policy(extra: Mapping[str, Any], key: str) -> str:
    value = extra[key]
    if not isinstance(value, str):
        raise KvtierConfigError(f"kv_connector_extra_config[{key!r}] must be a policy name, got {value!r}")
    try:
        make_policy(value, 1)
    except ValueError as error:
        raise KvtierConfigError(f"kv_connector_extra_config[{key!r}]: {error}") from error
    return value.strip().lower()


def offload_types(api: VllmApi) -> OffloadTypes:
    """The manager's result constructors from vLLM's classes."""
    return OffloadTypes(
        load_store_spec=over_vllm_base(KvtierLoadStoreSpec, api.load_store_spec),
        prepare_store_output=api.prepare_store_output,
        offloading_event=api.offloading_event,
        lookup_result=api.lookup_result,
        request_offloading_context=api.request_offloading_context,
        event_medium=api.event_medium,
        hit_sources=api.hit_sources,
        make_stats=api.connector_stats,
    )


class KvtierSpecMixin:
    """The body of `KvtierOffloadingSpec`, mixed before vLLM's `OffloadingSpec` by `build_spec_class`.

    vLLM's base keeps the `OffloadingConfig` (`config`, `extra_config`, `blocks_per_chunk`); this mixin
    validates the extra config first (so bad values fail with a message naming the key), requires one
    worker and one KV cache group (see `kvtier.vllm.shared`), and builds the manager and the worker over
    the store the two share."""

    _kvtier_api: Any = None
    _kvtier_types: Any = None

    config: Any
    blocks_per_chunk: int

    @classmethod
    def build_metric_definitions(cls, extra_config: Any) -> dict[str, Any]:
        """kvtier's per-tier metrics (`kvtier.vllm.metrics`), registered by vLLM's connector."""
        api: VllmApi = cls._kvtier_api
        return metric_definitions(api.counter_metadata, api.gauge_metadata)

    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        self.kvtier_config = parse_extra_config(getattr(config, "extra_config", None) or {})
        _require_one_process(config)
        groups = tuple(getattr(config, "groups", ()))
        if len(groups) != 1:
            raise KvtierConfigError(
                f"kvtier handles models with one KV cache group (full attention); this one has {len(groups)}"
            )
        cast(Any, super()).__init__(config, *args, **kwargs)
        self.chunk_tokens = int(groups[0].tokens_per_block) * int(self.blocks_per_chunk)
        self._kvtier_manager: Any = None
        self._kvtier_worker: Any = None

    def get_manager(self) -> Any:
        if self._kvtier_manager is None:
            handle = find_shared_store(self.kvtier_config)
            if handle is None:
                raise RuntimeError(
                    "kvtier: no store for this configuration in this process. kvtier's store is opened by "
                    "vLLM's worker when it registers its KV cache, and the scheduler must run in the same "
                    "process: use one worker (tensor and pipeline parallel size 1) and the in-process "
                    "executor (--distributed-executor-backend uni; on vLLM's CPU backend also "
                    "VLLM_ENABLE_V1_MULTIPROCESSING=0, without which it switches to the mp executor)"
                )
            manager_class = over_vllm_base(KvtierOffloadingManager, self._kvtier_api.offloading_manager)
            self._kvtier_manager = manager_class(
                handle,
                self._kvtier_types,
                chunk_tokens=self.chunk_tokens,
                enable_events=bool(self.config.enable_kv_cache_events),
            )
        return self._kvtier_manager

    def get_worker(self, kv_caches: Any) -> Any:
        """The worker over vLLM's `CanonicalKVCaches`; it opens the store, sized from the cache's pages."""
        if self._kvtier_worker is None:
            kv = paged_kv_from_vllm(kv_caches)
            factor = int(self.blocks_per_chunk)
            handle: StoreHandle = open_shared_store(
                self.kvtier_config, factor * kv.block_nbytes, self.kvtier_config.open_store
            )
            api: VllmApi = self._kvtier_api
            worker_class = over_vllm_base(KvtierOffloadingWorker, api.offloading_worker)
            self._kvtier_worker = worker_class(
                handle,
                kv,
                blocks_per_chunk=factor,
                workers=self.kvtier_config.workers,
                result=api.transfer_result,
            )
        return self._kvtier_worker


def _require_one_process(config: Any) -> None:
    parallel = getattr(config, "parallel", None)
    world_size = int(getattr(parallel, "world_size", 1) or 1)
    if world_size > 1:
        raise KvtierConfigError(
            f"kvtier's vLLM integration needs the scheduler and the only worker in one process, but this "
            f"engine has {world_size} workers (tensor/pipeline parallel): use tensor_parallel_size=1 and "
            "pipeline_parallel_size=1, or vLLM's CPUOffloadingSpec"
        )


def build_spec_class(api: VllmApi) -> type[KvtierSpecMixin]:
    """`KvtierOffloadingSpec` over `api` (vLLM's classes, or fakes in tests)."""
    built: type[KvtierSpecMixin] = types.new_class(
        SPEC_NAME,
        (KvtierSpecMixin, api.offloading_spec),
        exec_body=lambda namespace: namespace.update(
            {"_kvtier_api": api, "_kvtier_types": offload_types(api), "__module__": __name__}
        ),
    )
    built.__doc__ = KvtierSpecMixin.__doc__
    return built


@functools.cache
def vllm_spec_class() -> type[KvtierSpecMixin]:
    """`KvtierOffloadingSpec` over the installed vLLM (ImportError with what to do when it is missing)."""
    return build_spec_class(load_vllm_api())


def register_with_vllm() -> None:
    """Registers the spec with vLLM's `OffloadingSpecFactory`, so `spec_name` alone selects it; for
    plugins that run inside vLLM's processes. `spec_module_path` in the config needs no registration."""
    factory = importlib.import_module("vllm.v1.kv_offload.factory").OffloadingSpecFactory
    with contextlib.suppress(ValueError):  # already registered
        factory.register_spec(SPEC_NAME, SPEC_MODULE_PATH, SPEC_NAME)


def __getattr__(name: str) -> Any:
    if name == SPEC_NAME:
        return vllm_spec_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
