"""The vLLM classes the integration subclasses or instantiates, imported only when asked for.

Nothing in kvtier imports vllm at module import time: `load_vllm_api()` is called when vLLM itself resolves
`kvtier.vllm.spec.KvtierOffloadingSpec` (so vllm is already loaded), and the fast unit tests hand the
builders a `VllmApi` of stand-ins instead (the real tier runs the same code over vLLM's own classes).
Every class is typed `Any` on purpose: vllm ships no stubs we can rely on, and the builders only pass the
classes on as bases or constructors.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import types
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VllmApi:
    """vLLM's offloading contract (`vllm.v1.kv_offload.base` and `.factory`, vLLM 0.32).

    `hit_sources` maps kvtier's tier names to the `CacheHitSource` a hit from that tier is reported as
    (vLLM labels `vllm:prompt_tokens_cached_by_source` with it); `connector_stats` is the per-step stats
    payload and `counter_metadata` / `gauge_metadata` the metric definitions kvtier's figures go out as."""

    load_store_spec: Any
    prepare_store_output: Any
    offloading_event: Any
    offloading_manager: Any
    offloading_spec: Any
    offloading_worker: Any
    transfer_result: Any
    lookup_result: Any
    request_offloading_context: Any
    event_medium: Any
    hit_sources: dict[str, Any]
    connector_stats: Any
    counter_metadata: Any
    gauge_metadata: Any
    version: str = "unknown"


@functools.cache
def load_vllm_api() -> VllmApi:
    """Imports vLLM's offloading classes; ImportError (with what to do) when vllm is missing or differs."""
    try:
        base = importlib.import_module("vllm.v1.kv_offload.base")
        sources = importlib.import_module("vllm.v1.metrics.cache_hit_source").CacheHitSource
        metrics = importlib.import_module("vllm.distributed.kv_transfer.kv_connector.v1.offloading.metrics")
        api = VllmApi(
            load_store_spec=base.LoadStoreSpec,
            prepare_store_output=base.PrepareStoreOutput,
            offloading_event=base.OffloadingEvent,
            offloading_manager=base.OffloadingManager,
            offloading_spec=base.OffloadingSpec,
            offloading_worker=base.OffloadingWorker,
            transfer_result=base.TransferResult,
            lookup_result=base.LookupResult,
            request_offloading_context=base.RequestOffloadingContext,
            event_medium=base.Medium.CPU,
            hit_sources={"device": sources.DEVICE, "host": sources.HOST, "disk": sources.DISK},
            connector_stats=metrics.OffloadingConnectorStats,
            counter_metadata=base.OffloadingCounterMetadata,
            gauge_metadata=base.OffloadingGaugeMetadata,
        )
    except (ImportError, AttributeError) as error:
        raise ImportError(
            "kvtier.vllm.spec.KvtierOffloadingSpec needs vLLM's offloading API of vLLM 0.32 "
            f"(vllm.v1.kv_offload.base with OffloadKey and OffloadingWorker); loading it failed: {error}. "
            "Install a matching vllm in the serving environment"
        ) from error
    try:
        version = str(importlib.import_module("vllm").__version__)
    except (ImportError, AttributeError):
        version = "unknown"
    return dataclasses.replace(api, version=version)


def over_vllm_base(body: type[T], base: Any) -> type[T]:
    """`body` as a subclass of vLLM's (abstract) `base`, named, placed and documented as `body`: how the
    plain-Python manager, worker and load/store spec become the classes vLLM checks for."""
    built: type[T] = types.new_class(body.__name__, (body, base))
    built.__module__ = body.__module__
    built.__doc__ = body.__doc__
    return built
