"""kvtier: a tiered KV-cache block store. Hot blocks in device (GPU) memory, warm blocks in host DRAM, cold
blocks on local disk, moved by access and capacity pressure.

A block is named by its prefix hash, as the serving engine computed it (vLLM's block hash, a trace's hash
id): kvtier never hashes token content. Blocks form chains (a block's parent is the previous block of its
prompt), and a chain is only useful up to its first missing block, so every tier evicts a chain's tail
before its head.

Modules, one job each:

- `kvtier.store`: `TieredStore` over `TierSpec`s (exclusive tiers, promotion, demotion, async transfers);
- `kvtier.tiers`: the slot arenas (`HostArena` in DRAM, `DiskArena` with a CRC-32 per block,
  `DeviceArena` in CUDA memory through a lazily imported torch);
- `kvtier.policies`: index-only eviction policies (LRU, ARC, S3-FIFO) and the TinyLFU admission filter,
  by name (`make_policy("lru+tinylfu", n)`); `kvtier.belady`: the offline optimum;
- `kvtier.trace` (Mooncake traces), `kvtier.replay` (hit rate of a policy over a trace), `kvtier.stats`.

Mapping onto vLLM's offloading connector (its scheduler-side `OffloadingManager`); each call takes the
block hashes of one request, head first, as vLLM passes them:

==========================================  ===========================================================
OffloadingManager                           TieredStore
==========================================  ===========================================================
lookup(block_hashes) -> int                 lookup(hashes) -> int: leading blocks readable in any tier
prepare_load(block_hashes) -> LoadStoreSpec prepare_load(hashes) -> [BlockLocation(tier, slot)]; pins
                                            them (never evicted or moved until complete_load)
touch(block_hashes)                         touch(hashes): refreshes each block in its tier's policy
complete_load(block_hashes)                 complete_load(hashes, corrupt=()): unpins; drops blocks
                                            whose read failed its checksum
prepare_store(block_hashes) -> output|None  prepare_store(hashes, parent) -> StorePlan(to_store,
                                            locations, evicted): skips cached blocks, reserves
                                            first-tier slots (pinned, invisible to lookup), demotes or
                                            evicts to make room; an empty plan where vLLM gets None.
                                            `parent` is the request's block before hashes[0]
complete_store(block_hashes, success)       complete_store(hashes, success): makes them readable, or
                                            frees their slots
==========================================  ===========================================================

The worker side copies bytes between vLLM's KV tensors and the returned locations: `write(location,
data)` between prepare_store and complete_store, `read_into(location, out)` between prepare_load and
complete_load (it raises `CorruptBlockError` for a damaged disk block), or directly through
`arena("host").view(slot)` / `arena("device").tensor(slot)`. Promotion back up happens on the data path
(`get`, `get_into`, `get_async`); the index path leaves blocks where they are.
"""

from kvtier.belady import BeladyOracle, belady
from kvtier.blocks import (
    BlockHash,
    BlockLocation,
    CorruptBlockError,
    DeviceTierUnavailableError,
    KvtierError,
    StorePlan,
)
from kvtier.policies import EvictionPolicy, make_policy
from kvtier.replay import ReplayResult, replay, working_set
from kvtier.stats import StoreSnapshot, TierSnapshot
from kvtier.store import TieredStore, TierSpec
from kvtier.trace import TraceFormatError, TraceRequest, load_mooncake

__all__ = [
    "BeladyOracle",
    "BlockHash",
    "BlockLocation",
    "CorruptBlockError",
    "DeviceTierUnavailableError",
    "EvictionPolicy",
    "KvtierError",
    "ReplayResult",
    "StorePlan",
    "StoreSnapshot",
    "TierSnapshot",
    "TierSpec",
    "TieredStore",
    "TraceFormatError",
    "TraceRequest",
    "belady",
    "load_mooncake",
    "make_policy",
    "replay",
    "working_set",
]
