"""kvtier as vLLM's KV offloading backend: vLLM's `OffloadingConnector` with kvtier's tiered store (host
DRAM, then local disk, optionally a spare GPU tier) instead of vLLM's single CPU tier. Optional: nothing
here imports vllm or torch until vLLM itself loads the spec class.

Targeted vLLM version: 0.32 (`vllm.v1.kv_offload.base`: `OffloadingSpec(config: OffloadingConfig)`,
`OffloadKey`s, `get_worker(CanonicalKVCaches) -> OffloadingWorker`), the release the real test tier runs
(`tests/real/requirements.lock`). Earlier releases spoke a different contract (block hashes, per-layer
tensors, `get_handlers`) and are not supported.

Serving (one worker, one engine process: kvtier's scheduler side and worker side share one store in
memory, see `kvtier.vllm.shared`, so tensor/pipeline parallelism > 1 is refused with an error)::

    vllm serve <model> --tensor-parallel-size 1 --distributed-executor-backend uni \\
      --kv-transfer-config '{"kv_connector": "OffloadingConnector", "kv_role": "kv_both",
        "kv_connector_extra_config": {"spec_name": "KvtierOffloadingSpec",
          "spec_module_path": "kvtier.vllm.spec", "block_size": 64, "host_blocks": 4096,
          "disk_blocks": 65536, "disk_path": "/mnt/nvme/kvtier", "policy": "arc"}}'

On vLLM's CPU backend also set `VLLM_ENABLE_V1_MULTIPROCESSING=0`: without it the CPU platform replaces
the in-process executor by the multiprocess one, and the worker would open a store the scheduler cannot
see (kvtier then refuses to start, saying so).

`kv_connector_extra_config` keys (unknown keys and bad values fail at start-up, naming the key):

- `spec_name` / `spec_module_path`: read by vLLM's `OffloadingSpecFactory`, which imports the module and
  takes the class by name: "KvtierOffloadingSpec" and "kvtier.vllm.spec". (`register_with_vllm()` lets a
  vLLM plugin register the name instead.)
- `block_size` | `blocks_per_chunk`: vLLM's own keys, the offloaded block's size in tokens (a multiple of
  vLLM's `--block-size`) or in vLLM blocks; default one vLLM block. One kvtier block holds that many
  tokens' KV for every layer. vLLM's `offload_prompt_only`, `self_describing_kv_events` and
  `canonical_layout` pass through to it.
- `host_blocks` | `host_bytes`: the DRAM tier's capacity, in offloaded blocks or in bytes (rounded down
  to whole blocks; the block's byte size depends on the model, so bytes are easier to size).
- `disk_blocks` | `disk_bytes`: the disk tier's capacity; blocks evicted from DRAM are demoted there, and
  each is checked against a CRC-32 when read back (a damaged block fails its load and is dropped).
- `disk_path`: the disk tier's file, or a directory that gets a per-process `kvtier-<pid>.arena` (use a
  directory when several engines share a disk). Default: a temporary file. Created empty, deleted at exit.
- `device_blocks` | `device_bytes`: an extra tier in GPU memory, above DRAM (needs spare GPU memory).
- `policy`: the eviction policy of every tier: "lru", "arc", "s3fifo", optionally with the TinyLFU
  admission filter ("lru+tinylfu", ...). Default "lru". `host_policy`, `disk_policy`, `device_policy`
  override it per tier.
- `pin_memory`: page-lock the DRAM tier (true/false, default false; needs CUDA).
- `workers`: threads copying blocks between vLLM's KV cache and kvtier (default 4).

At least one tier needs a capacity. Modules: `kvtier.vllm.manager` (scheduler side),
`kvtier.vllm.handlers` (worker side: CPU tensors in place, CUDA tensors through a side stream),
`kvtier.vllm.spec` (configuration and the vLLM class), `kvtier.vllm.shared` (the store both sides share).
"""

from kvtier.vllm.handlers import JobResult, KvtierOffloadingWorker, NumpyPagedKV, PagedKV, TorchPagedKV
from kvtier.vllm.manager import KvtierLoadStoreSpec, KvtierOffloadingManager, OffloadTypes
from kvtier.vllm.shared import FailedTransfers, StoreHandle
from kvtier.vllm.spec import KvtierConfig, KvtierConfigError, parse_extra_config, register_with_vllm

__all__ = [
    "FailedTransfers",
    "JobResult",
    "KvtierConfig",
    "KvtierConfigError",
    "KvtierLoadStoreSpec",
    "KvtierOffloadingManager",
    "KvtierOffloadingWorker",
    "NumpyPagedKV",
    "OffloadTypes",
    "PagedKV",
    "StoreHandle",
    "TorchPagedKV",
    "parse_extra_config",
    "register_with_vllm",
]
