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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kvtier.policies import make_policy
from kvtier.store import TieredStore, TierKind, TierSpec
from kvtier.vllm._vllm import VllmApi, attention_backends, load_vllm_api
from kvtier.vllm.handlers import build_handler_class, paged_kv_from_vllm, tuple_result
from kvtier.vllm.manager import OffloadTypes, build_load_store_spec_class, build_manager_class
from kvtier.vllm.shared import StoreHandle, find_shared_store, open_shared_store

SPEC_NAME = "KvtierOffloadingSpec"
SPEC_MODULE_PATH = __name__

VLLM_KEYS = frozenset({"spec_name", "spec_module_path", "block_size"})
"""Keys of kv_connector_extra_config that vLLM itself reads; `block_size` is checked here too."""

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
    block_size: int | None = None

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
    if "block_size" in extra:
        values["block_size"] = _int(extra, "block_size", minimum=1)
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
    spec_base = (
        api.block_ids_load_store_spec if api.block_ids_load_store_spec is not None else api.load_store_spec
    )
    return OffloadTypes(
        load_store_spec=build_load_store_spec_class(spec_base),
        prepare_store_output=api.prepare_store_output,
        offloading_event=api.offloading_event,
    )


class KvtierSpecMixin:
    """The body of `KvtierOffloadingSpec`, mixed before vLLM's `OffloadingSpec` by `build_spec_class`.

    vLLM's base sets `vllm_config`, `extra_config`, `gpu_block_size` and `offloaded_block_size`; this
    mixin validates the extra config first (so bad values fail with a message naming the key, not an
    assert), requires one worker process (see `kvtier.vllm.shared`), and builds the manager and the
    handler over the store the two share."""

    _kvtier_api: Any = None
    _kvtier_types: Any = None

    vllm_config: Any
    offloaded_block_size: int
    gpu_block_size: Any

    def __init__(self, vllm_config: Any, *args: Any, **kwargs: Any) -> None:
        transfer = getattr(vllm_config, "kv_transfer_config", None)
        extra = getattr(transfer, "kv_connector_extra_config", None) or {}
        self.kvtier_config = parse_extra_config(extra)
        gpu_block_size = _single_block_size(
            getattr(getattr(vllm_config, "cache_config", None), "block_size", None)
        )
        if (
            gpu_block_size
            and self.kvtier_config.block_size
            and self.kvtier_config.block_size % gpu_block_size
        ):
            raise KvtierConfigError(
                f"kv_connector_extra_config['block_size'] ({self.kvtier_config.block_size} tokens) must be a "
                f"multiple of vLLM's block size ({gpu_block_size} tokens)"
            )
        cast(Any, super()).__init__(vllm_config, *args, **kwargs)
        self._kvtier_manager: Any = None
        self._kvtier_handler: Any = None

    @property
    def block_size_factor_kvtier(self) -> int:
        """GPU blocks per offloaded (kvtier) block."""
        gpu = _single_block_size(self.gpu_block_size)
        if not gpu:
            raise KvtierConfigError(f"cannot read vLLM's GPU block size from {self.gpu_block_size!r}")
        return int(self.offloaded_block_size) // gpu

    def get_manager(self) -> Any:
        if self._kvtier_manager is None:
            handle = find_shared_store(self.kvtier_config)
            if handle is None:
                raise RuntimeError(
                    "kvtier: no store for this configuration in this process. kvtier's store is opened by "
                    "vLLM's worker when it registers its KV caches, and the scheduler must run in the same "
                    "process: use tensor_parallel_size=1, pipeline_parallel_size=1 and the in-process "
                    "executor (distributed_executor_backend='uni')"
                )
            kv_events = getattr(self.vllm_config, "kv_events_config", None)
            manager_class = build_manager_class(self._kvtier_api.offloading_manager)
            self._kvtier_manager = manager_class(
                handle,
                self._kvtier_types,
                block_size=int(self.offloaded_block_size),
                enable_events=bool(getattr(kv_events, "enable_kv_cache_events", False)),
            )
        return self._kvtier_manager

    def get_handlers(
        self,
        kv_caches: Mapping[str, Any],
        attn_backends: Mapping[str, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Iterator[tuple[Any, Any, Any]]:
        """(GPU spec class, kvtier spec class, handler) and the reverse direction, one shared handler.
        `attn_backends` is passed by vLLM 0.11.1+; 0.11.0 does not, so they are looked up as it does."""
        if self._kvtier_handler is None:
            _require_one_process(self.vllm_config)
            backends = (
                attn_backends
                if attn_backends is not None
                else attention_backends(self.vllm_config, kv_caches)
            )
            kv = paged_kv_from_vllm(kv_caches, backends)
            factor = self.block_size_factor_kvtier
            handle: StoreHandle = open_shared_store(
                self.kvtier_config, factor * kv.block_nbytes, self.kvtier_config.open_store
            )
            api: VllmApi = self._kvtier_api
            handler_class = build_handler_class(api.offloading_handler)
            self._kvtier_handler = handler_class(
                handle,
                kv,
                block_size_factor=factor,
                workers=self.kvtier_config.workers,
                result=api.transfer_result if api.transfer_result is not None else tuple_result,
            )
        gpu_spec = self._kvtier_api.gpu_load_store_spec
        kvtier_spec = self._kvtier_types.load_store_spec
        yield gpu_spec, kvtier_spec, self._kvtier_handler
        yield kvtier_spec, gpu_spec, self._kvtier_handler


def _single_block_size(value: Any) -> int | None:
    """vLLM's GPU block size: an int, or (in later releases) a one-element tuple per KV cache group."""
    if isinstance(value, tuple | list):
        if len(value) != 1:
            raise KvtierConfigError(f"kvtier supports one KV cache group, vLLM has {len(value)}")
        value = value[0]
    return int(value) if isinstance(value, int) else None


def _require_one_process(vllm_config: Any) -> None:
    parallel = getattr(vllm_config, "parallel_config", None)
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
