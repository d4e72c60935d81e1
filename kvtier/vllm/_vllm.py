"""The vLLM classes the integration subclasses or instantiates, imported only when asked for.

Nothing in kvtier imports vllm at module import time: `load_vllm_api()` is called when vLLM itself resolves
`kvtier.vllm.spec.KvtierOffloadingSpec` (so vllm is already loaded), and the tests hand the builders a
`VllmApi` of fakes instead. Every class is typed `Any` on purpose: vllm ships no stubs we can rely on, and
the builders only pass the classes on as bases or constructors.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class VllmApi:
    """vLLM's offloading classes (vllm/v1/kv_offload in 0.11.x and 0.12).

    `block_ids_load_store_spec` is None where vLLM lacks it; `transfer_result` is the TransferResult class
    where vLLM made it one, None where results are plain `(job_id, success)` tuples (0.11.x, 0.12)."""

    load_store_spec: Any
    block_ids_load_store_spec: Any
    gpu_load_store_spec: Any
    prepare_store_output: Any
    offloading_event: Any
    offloading_manager: Any
    offloading_spec: Any
    offloading_handler: Any
    transfer_result: Any
    version: str = "unknown"


@functools.cache
def load_vllm_api() -> VllmApi:
    """Imports vLLM's offloading classes; ImportError (with what to do) when vllm is missing or too old."""
    try:
        abstract = importlib.import_module("vllm.v1.kv_offload.abstract")
        mediums = importlib.import_module("vllm.v1.kv_offload.mediums")
        spec = importlib.import_module("vllm.v1.kv_offload.spec")
        worker = importlib.import_module("vllm.v1.kv_offload.worker.worker")
    except ImportError as error:
        raise ImportError(
            "kvtier.vllm.spec.KvtierOffloadingSpec needs vLLM >= 0.11 (vllm.v1.kv_offload); "
            f"importing it failed: {error}. Install vllm in the serving environment, or use "
            "kvtier.vllm.manager / kvtier.vllm.handlers directly"
        ) from error
    result = getattr(worker, "TransferResult", None)
    transfer_result = result if isinstance(result, type) and dataclasses.is_dataclass(result) else None
    try:
        version = str(importlib.import_module("vllm").__version__)
    except (ImportError, AttributeError):
        version = "unknown"
    return VllmApi(
        load_store_spec=abstract.LoadStoreSpec,
        block_ids_load_store_spec=getattr(mediums, "BlockIDsLoadStoreSpec", None),
        gpu_load_store_spec=mediums.GPULoadStoreSpec,
        prepare_store_output=abstract.PrepareStoreOutput,
        offloading_event=abstract.OffloadingEvent,
        offloading_manager=abstract.OffloadingManager,
        offloading_spec=spec.OffloadingSpec,
        offloading_handler=worker.OffloadingHandler,
        transfer_result=transfer_result,
        version=version,
    )


def attention_backends(vllm_config: Any, layer_names: Iterable[str]) -> Mapping[str, Any]:
    """Each layer's attention backend class, looked up the way vLLM 0.11.0's CPUOffloadingSpec does (that
    release does not pass them to `get_handlers`); empty when the lookup is not possible."""
    names = list(layer_names)
    try:
        config_module = importlib.import_module("vllm.config")
        layer_module = importlib.import_module("vllm.model_executor.layers.attention_layer_base")
        layers = config_module.get_layers_from_vllm_config(
            vllm_config, layer_module.AttentionLayerBase, names
        )
        return {name: layers[name].get_attn_backend() for name in names if name in layers}
    except Exception:  # any failure only loses the hint: the caller falls back to the tensor's shape
        return {}
