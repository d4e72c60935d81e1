"""The tiered block store: device, host and disk tiers, each a slot arena with its own eviction policy.

Every block lives in exactly one tier (tiers are exclusive): new blocks enter the first (fastest) tier; a
tier that needs room demotes its policy's victims one tier down, and the last tier's victims leave the
store. A read served by a lower tier promotes the block back up (to the first tier, or one tier up).

Prefix chains: each tier's policy demotes a chain's tail before its head, and the last tier never drops a
block while a cached block anywhere names it as parent, so a cached block's prefix stays reachable by
`lookup`. The exceptions are blocks found corrupt or whose store failed, and a demotion the tier below
cannot take at all (all its blocks pinned or needed as parents): that block leaves the store from its tier.

Concurrency: one lock guards the index (which block is where, pins, policies, counters). Copies between
a caller's buffer and a slot run outside the lock: the slot is pinned (being read) or reserved (being
written), and a pinned or reserved block is never evicted, demoted or promoted, so its slot cannot be
reused under the copy. Demotions and promotions copy under the lock, which keeps every move atomic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from kvtier.blocks import (
    BlockHash,
    BlockLocation,
    Buffer,
    CorruptBlockError,
    StorePlan,
    WritableBuffer,
)
from kvtier.policies import EvictionPolicy, make_policy
from kvtier.stats import StoreSnapshot, TierStats
from kvtier.tiers.base import SlotArena, as_bytes_view, as_writable_view
from kvtier.tiers.disk import DiskArena
from kvtier.tiers.host import HostArena

TierKind = Literal["device", "host", "disk"]
TIER_ORDER: tuple[TierKind, ...] = ("device", "host", "disk")
Promotion = Literal["top", "next", "none"]


@dataclass(frozen=True, slots=True)
class TierSpec:
    """One tier of a store: its kind, its capacity (in blocks or in bytes: exactly one of the two; bytes
    are rounded down to whole blocks) and its eviction policy (a `kvtier.policies.make_policy` spec).

    `path` is the disk tier's arena file (default: a temporary file); `device` the device tier's torch
    device; `pin_memory` page-locks the host arena through torch (needs CUDA)."""

    kind: TierKind
    capacity_blocks: int | None = None
    capacity_bytes: int | None = None
    policy: str = "lru"
    path: Path | None = None
    device: str = "cuda"
    pin_memory: bool = False

    def slots(self, block_bytes: int) -> int:
        if (self.capacity_blocks is None) == (self.capacity_bytes is None):
            raise ValueError(f"{self.kind} tier: give exactly one of capacity_blocks and capacity_bytes")
        slots = self.capacity_blocks if self.capacity_blocks is not None else 0
        if self.capacity_bytes is not None:
            slots = self.capacity_bytes // block_bytes
        if slots < 1:
            raise ValueError(f"{self.kind} tier: capacity must hold at least one {block_bytes}-byte block")
        return slots


class _Tier:
    __slots__ = ("arena", "free", "index", "name", "policy", "slot_of", "slots", "stats")

    def __init__(self, index: int, arena: SlotArena, policy: EvictionPolicy) -> None:
        self.index = index
        self.name = arena.name
        self.arena = arena
        self.policy = policy
        self.slots = arena.slots
        self.slot_of: dict[BlockHash, int] = {}
        self.free: list[int] = list(range(arena.slots - 1, -1, -1))
        self.stats = TierStats(arena.name)


class TieredStore:
    """A KV-cache block store over up to three tiers, fastest first. See `kvtier` for how its operations
    map onto vLLM's offloading manager."""

    def __init__(
        self,
        block_bytes: int,
        tiers: Sequence[TierSpec],
        *,
        promotion: Promotion = "top",
        workers: int = 4,
    ) -> None:
        if block_bytes < 1:
            raise ValueError(f"block_bytes must be positive, got {block_bytes}")
        kinds = [spec.kind for spec in tiers]
        if not kinds:
            raise ValueError("a store needs at least one tier")
        if len(set(kinds)) != len(kinds) or kinds != sorted(kinds, key=TIER_ORDER.index):
            raise ValueError(f"tiers must be distinct, fastest first (device, host, disk): {kinds}")
        self.block_bytes = block_bytes
        self.promotion: Promotion = promotion
        self._tiers: list[_Tier] = []
        try:
            for index, spec in enumerate(tiers):
                slots = spec.slots(block_bytes)
                policy = make_policy(spec.policy, slots)
                self._tiers.append(_Tier(index, _make_arena(spec, slots, block_bytes), policy))
        except BaseException:
            for tier in self._tiers:
                tier.arena.close()
            raise
        self._by_name = {tier.name: tier for tier in self._tiers}
        self._lock = threading.Lock()
        self._home: dict[BlockHash, _Tier] = {}
        """Every block that holds a slot: readable, being written, or corrupt and waiting for its readers."""
        self._ready: set[BlockHash] = set()
        """Blocks a lookup sees: written and not found corrupt."""
        self._pending: set[BlockHash] = set()
        self._doomed: set[BlockHash] = set()
        self._pins: dict[BlockHash, int] = {}
        self._parent: dict[BlockHash, BlockHash] = {}
        self._upper_children: dict[BlockHash, int] = {}
        """Per block hash: its cached children in tiers above the last one (see `_moved`)."""
        self._staging = np.empty(block_bytes, dtype=np.uint8)
        self._gets = self._hits = self._misses = self._puts = self._stored = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kvtier")
        self._closed = False

    # --- the offloading-manager operations (index only) -----------------------------------------------------

    def lookup(self, hashes: Sequence[BlockHash]) -> int:
        """How many leading `hashes` are cached and readable (in any tier)."""
        with self._lock:
            ready = self._ready
            count = 0
            for key in hashes:
                if key not in ready:
                    break
                count += 1
            return count

    def prepare_load(self, hashes: Sequence[BlockHash]) -> list[BlockLocation]:
        """Pins every block of `hashes` (all must be cached; KeyError otherwise, and nothing is pinned) and
        returns where each is. Pinned blocks are not evicted or moved until `complete_load`."""
        with self._lock:
            missing = [key for key in hashes if key not in self._ready]
            if missing:
                raise KeyError(f"not cached: {missing[:4]!r}{'...' if len(missing) > 4 else ''}")
            locations = []
            for key in hashes:
                tier = self._home[key]
                self._pin(key, tier)
                self._count_hit(tier)
                locations.append(BlockLocation(tier.name, tier.slot_of[key]))
            return locations

    def complete_load(self, hashes: Sequence[BlockHash], corrupt: Sequence[BlockHash] = ()) -> None:
        """Unpins blocks pinned by `prepare_load`. Blocks listed in `corrupt` (a `read_into` raised
        `CorruptBlockError`) are dropped, counted, and never returned again."""
        with self._lock:
            for key in corrupt:
                if key in self._ready:
                    tier = self._home[key]
                    tier.stats.corrupt += 1
                    self._discard(key, tier)
            for key in hashes:
                self._unpin(key)

    def touch(self, hashes: Sequence[BlockHash]) -> None:
        """Marks the blocks of a request as used now, in each tier's policy (tail first, as the policies
        expect: see `kvtier.policies.base`). Uncached hashes are ignored."""
        with self._lock:
            if len(self._tiers) == 1:
                self._tiers[0].policy.touch([key for key in hashes if key in self._ready])
                return
            per_tier: dict[int, list[BlockHash]] = {}
            for key in hashes:
                if key in self._ready:
                    per_tier.setdefault(self._home[key].index, []).append(key)
            for index, keys in per_tier.items():
                self._tiers[index].policy.touch(keys)

    def prepare_store(self, hashes: Sequence[BlockHash], parent: BlockHash | None = None) -> StorePlan:
        """Reserves slots for the blocks of the chain `hashes` that are not cached yet: in the first tier,
        making room by demotion/eviction, or where it cannot, in the next tier down. `parent` is the block
        before `hashes[0]` (None for a chain head); a chain whose parent is not cached is not stored.
        Reserved blocks are invisible to lookups and cannot be evicted until `complete_store`; write their
        bytes with `write` in between."""
        with self._lock:
            return self._prepare_store(hashes, parent)

    def complete_store(self, hashes: Sequence[BlockHash], success: bool = True) -> None:
        """Makes reserved blocks readable, or (success=False) releases their slots. Hashes not reserved
        (skipped by `prepare_store`) are ignored."""
        with self._lock:
            for key in hashes:
                self._complete_store(key, success)

    def write(self, location: BlockLocation, data: Buffer) -> None:
        """Writes a block's bytes into a slot reserved by `prepare_store`."""
        tier = self._by_name[location.tier]
        started = time.perf_counter()
        tier.arena.write(location.slot, data)
        elapsed = time.perf_counter() - started
        with self._lock:
            tier.stats.bytes_written += self.block_bytes
            tier.stats.write_latency.record(elapsed)

    def read_into(self, location: BlockLocation, out: WritableBuffer) -> None:
        """Reads a block pinned by `prepare_load` into `out`; raises `CorruptBlockError` if its checksum
        fails (then pass the hash to `complete_load(..., corrupt=...)`)."""
        tier = self._by_name[location.tier]
        started = time.perf_counter()
        tier.arena.read_into(location.slot, out)
        elapsed = time.perf_counter() - started
        with self._lock:
            tier.stats.bytes_read += self.block_bytes
            tier.stats.read_latency.record(elapsed)

    # --- the data path: one call per block, with promotion -------------------------------------------------

    def put(self, key: BlockHash, data: Buffer, parent: BlockHash | None = None) -> bool:
        """Stores one block (after `parent` in its chain); False if it was already cached or could not be
        stored (parent not cached, no room, refused by admission)."""
        source = as_bytes_view(data, self.block_bytes)
        with self._lock:
            self._puts += 1
            plan = self._prepare_store((key,), parent)
        if not plan.to_store:
            return False
        try:
            self.write(plan.locations[0], source)
        except BaseException:
            self.complete_store(plan.to_store, success=False)
            raise
        self.complete_store(plan.to_store, success=True)
        return True

    def get_into(self, key: BlockHash, out: WritableBuffer) -> bool:
        """Reads a block into `out` and promotes it if it came from a lower tier; False on a miss (absent,
        or found corrupt: then it is dropped and counted)."""
        target = as_writable_view(out, self.block_bytes)
        started = time.perf_counter()
        with self._lock:
            self._gets += 1
            tier = self._home.get(key) if key in self._ready else None
            if tier is None:
                self._misses += 1
                self._count_miss(len(self._tiers))
                return False
            self._pin(key, tier)
            slot = tier.slot_of[key]
        corrupt = False
        try:
            tier.arena.read_into(slot, target)
        except CorruptBlockError:
            corrupt = True
        except BaseException:
            with self._lock:
                self._unpin(key)
            raise
        elapsed = time.perf_counter() - started
        with self._lock:
            stats = tier.stats
            stats.bytes_read += self.block_bytes
            if corrupt:
                stats.corrupt += 1
                self._misses += 1
                self._count_miss(tier.index + 1)
                if key in self._ready:
                    self._discard(key, tier)
                self._unpin(key)
                return False
            self._hits += 1
            self._count_hit(tier)
            stats.read_latency.record(elapsed)
            tier.policy.touch((key,))
            self._unpin(key)
            if tier.index > 0 and self.promotion != "none" and key not in self._pins and key in self._ready:
                self._promote(key, tier, target)
        return True

    def get(self, key: BlockHash) -> bytes | None:
        """A copy of a block's bytes, or None on a miss (see `get_into`)."""
        buffer = bytearray(self.block_bytes)
        return bytes(buffer) if self.get_into(key, buffer) else None

    def put_async(self, key: BlockHash, data: Buffer, parent: BlockHash | None = None) -> Future[bool]:
        """`put` on the store's worker threads; the caller must keep `data` unchanged until it completes."""
        return self._executor.submit(self.put, key, data, parent)

    def get_async(self, key: BlockHash) -> Future[bytes | None]:
        return self._executor.submit(self.get, key)

    def get_into_async(self, key: BlockHash, out: WritableBuffer) -> Future[bool]:
        return self._executor.submit(self.get_into, key, out)

    # --- inspection -----------------------------------------------------------------------------------------

    def location(self, key: BlockHash) -> BlockLocation | None:
        """Where a readable block is, or None."""
        with self._lock:
            if key not in self._ready:
                return None
            tier = self._home[key]
            return BlockLocation(tier.name, tier.slot_of[key])

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._ready

    def __len__(self) -> int:
        with self._lock:
            return len(self._ready)

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(tier.name for tier in self._tiers)

    def arena(self, name: str) -> SlotArena:
        """A tier's arena, for integrators that copy slots themselves (e.g. `HostArena.view`)."""
        return self._by_name[name].arena

    def policy(self, name: str) -> EvictionPolicy:
        return self._by_name[name].policy

    def stats(self, *, percentiles: bool = True) -> StoreSnapshot:
        """A consistent snapshot of every counter; `percentiles=False` skips the latency percentiles (NaN),
        which sort each tier's reservoirs under the store's lock, for callers that poll often."""
        with self._lock:
            return StoreSnapshot(
                gets=self._gets,
                hits=self._hits,
                misses=self._misses,
                puts=self._puts,
                stored=self._stored,
                tiers=tuple(
                    tier.stats.snapshot(len(tier.slot_of), tier.slots, self.block_bytes, percentiles)
                    for tier in self._tiers
                ),
            )

    def check(self) -> None:
        """Verifies the index's invariants (every slot owned once, capacity respected, policies and slot maps
        agree); raises AssertionError. For tests and debugging: it walks every block."""
        with self._lock:
            seen = 0
            for tier in self._tiers:
                owned = set(tier.slot_of.values())
                assert len(owned) == len(tier.slot_of), f"{tier.name}: a slot is owned twice"
                assert not owned & set(tier.free), f"{tier.name}: a free slot is owned"
                assert len(owned) + len(tier.free) == tier.slots, f"{tier.name}: slots lost or invented"
                assert len(tier.slot_of) <= tier.slots, f"{tier.name}: over capacity"
                assert len(tier.policy) == len(tier.slot_of), f"{tier.name}: policy and slots disagree"
                for key in tier.slot_of:
                    assert self._home[key] is tier, f"{key!r} is in {tier.name}'s slots but homed elsewhere"
                    assert key in tier.policy, f"{key!r} is in {tier.name}'s slots but not in its policy"
                seen += len(tier.slot_of)
            assert seen == len(self._home), "blocks homed nowhere"
            last = self._tiers[-1]
            above: dict[BlockHash, int] = {}
            for key, tier in self._home.items():
                parent = self._parent.get(key)
                if parent is not None and tier is not last and len(self._tiers) > 1:
                    above[parent] = above.get(parent, 0) + 1
            assert above == self._upper_children, "cross-tier chain holds are off"
            for parent, count in above.items():
                if self._home.get(parent) is last:
                    assert last.policy.holds(parent) >= count, f"{parent!r} lacks its holds"
            assert self._ready | self._pending | self._doomed == set(self._home), "block states disagree"

    def close(self) -> None:
        """Waits for pending asynchronous transfers, then releases every arena (the disk file is deleted)."""
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        for tier in self._tiers:
            tier.arena.close()

    def __enter__(self) -> TieredStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- internals (the lock is held) ----------------------------------------------------------------------

    def _prepare_store(self, hashes: Sequence[BlockHash], parent: BlockHash | None) -> StorePlan:
        home = self._home
        if parent is not None and parent not in self._ready and parent not in self._pending:
            return StorePlan((), (), ())
        dropped: list[BlockHash] = []
        to_store: list[BlockHash] = []
        locations: list[BlockLocation] = []
        previous = parent
        run: list[BlockHash] = []
        in_run: set[BlockHash] = set()
        run_parent = parent
        for key in (*hashes, None):
            if key is not None and key not in home and key not in in_run:
                if not run:
                    run_parent = previous
                run.append(key)
                in_run.add(key)
                previous = key
                continue
            if run:
                stored = self._reserve(run, run_parent, to_store, locations, dropped)
                if stored < len(run):
                    break  # the rest of the chain would be orphans
                run = []
                in_run.clear()
            if key is None:
                break
            previous = key
        return StorePlan(tuple(to_store), tuple(locations), tuple(dropped))

    def _reserve(
        self,
        run: list[BlockHash],
        parent: BlockHash | None,
        to_store: list[BlockHash],
        locations: list[BlockLocation],
        dropped: list[BlockHash],
    ) -> int:
        """Reserves slots for a run of new blocks (a chain segment after `parent`) in the first tier, and
        what the first tier cannot take (no evictable block, or refused by admission) in the next one, and
        so on; returns how many leading blocks of the run got a slot."""
        done = 0
        link = parent
        for tier in self._tiers:
            remaining = run[done:]
            in_tier_parent = link if link is not None and link in tier.policy else None
            stored, evicted = tier.policy.store(remaining, in_tier_parent)
            self._demote_all(tier, evicted, dropped)
            for new in stored:
                slot = tier.free.pop()
                tier.slot_of[new] = slot
                self._home[new] = tier
                self._pending.add(new)
                tier.policy.pin(new)
                if link is not None:
                    self._parent[new] = link
                self._moved(new, None, tier)
                link = new
                to_store.append(new)
                locations.append(BlockLocation(tier.name, slot))
            done += len(stored)
            if done == len(run):
                break
        return done

    def _complete_store(self, key: BlockHash, success: bool) -> None:
        if key not in self._pending:
            return
        self._pending.discard(key)
        tier = self._home[key]
        tier.policy.unpin(key)
        if success:
            self._ready.add(key)
            self._stored += 1
        else:
            tier.policy.remove(key)
            self._release_slot(key, tier)

    def _demote_all(self, tier: _Tier, victims: Sequence[BlockHash], dropped: list[BlockHash]) -> None:
        """Moves blocks just evicted from `tier`'s policy one tier down (recursively making room there), or
        out of the store from the last tier; frees their slots in `tier`."""
        if not victims:
            return
        lower = self._tiers[tier.index + 1] if tier.index + 1 < len(self._tiers) else None
        for victim in victims:
            slot = tier.slot_of.pop(victim)
            moved = False
            if lower is not None:
                parent = self._parent.get(victim)
                in_tier_parent = parent if parent is not None and parent in lower.policy else None
                stored, evicted = lower.policy.store((victim,), in_tier_parent)
                self._demote_all(lower, evicted, dropped)
                if stored:
                    lower_slot = lower.free.pop()
                    self._copy(tier, slot, lower, lower_slot)
                    lower.slot_of[victim] = lower_slot
                    self._home[victim] = lower
                    self._moved(victim, tier, lower)
                    tier.stats.demotions += 1
                    moved = True
            if not moved:
                tier.stats.evictions += 1
                self._forget(victim)
                dropped.append(victim)
            tier.free.append(slot)

    def _promote(self, key: BlockHash, tier: _Tier, data: Buffer) -> None:
        target = self._tiers[0] if self.promotion == "top" else self._tiers[tier.index - 1]
        parent = self._parent.get(key)
        in_tier_parent = parent if parent is not None and parent in target.policy else None
        stored, evicted = target.policy.store((key,), in_tier_parent)
        if not stored:
            return
        # `data` holds the verified bytes: free the old slot first, so that the target's victim can take
        # it instead of pushing another block out of the store
        tier.policy.remove(key)
        tier.free.append(tier.slot_of.pop(key))
        self._home[key] = target
        self._moved(key, tier, target)
        self._demote_all(target, evicted, [])
        slot = target.free.pop()
        target.arena.write(slot, data)
        target.slot_of[key] = slot
        target.stats.promotions += 1
        target.stats.bytes_written += self.block_bytes

    def _copy(self, source: _Tier, source_slot: int, target: _Tier, target_slot: int) -> None:
        if isinstance(target.arena, HostArena):
            source.arena.read_into(source_slot, target.arena.view(target_slot))
        elif isinstance(source.arena, HostArena):
            target.arena.write(target_slot, source.arena.view(source_slot))
        else:
            source.arena.read_into(source_slot, self._staging)
            target.arena.write(target_slot, self._staging)
        source.stats.bytes_read += self.block_bytes
        target.stats.bytes_written += self.block_bytes

    def _discard(self, key: BlockHash, tier: _Tier) -> None:
        """Drops a readable block now, or once its last reader unpins it."""
        self._ready.discard(key)
        if key in self._pins:
            self._doomed.add(key)
            return
        tier.policy.remove(key)
        self._release_slot(key, tier)

    def _release_slot(self, key: BlockHash, tier: _Tier) -> None:
        tier.free.append(tier.slot_of.pop(key))
        self._forget(key)

    def _forget(self, key: BlockHash) -> None:
        self._moved(key, self._home.pop(key), None)
        self._ready.discard(key)
        self._parent.pop(key, None)

    def _moved(self, key: BlockHash, old: _Tier | None, new: _Tier | None) -> None:
        """Keeps the last tier's cross-tier holds right after `key` changed tier (None: not cached).

        Within a tier the policy keeps parents of cached blocks from eviction. Across tiers only the last
        tier needs help, since only it drops blocks: a block there with cached children in tiers above it
        (e.g. a new turn stored over a prefix read from disk) carries one pin per such child."""
        last = self._tiers[-1]
        if last is self._tiers[0]:
            return
        parent = self._parent.get(key)
        if parent is not None:
            was_above = old is not None and old is not last
            is_above = new is not None and new is not last
            if was_above != is_above:
                count = self._upper_children.get(parent, 0) + (1 if is_above else -1)
                if count:
                    self._upper_children[parent] = count
                else:
                    del self._upper_children[parent]
                if self._home.get(parent) is last:
                    if is_above:
                        last.policy.pin(parent)
                    else:
                        last.policy.unpin(parent)
        children_above = self._upper_children.get(key, 0)
        if children_above and (old is last) != (new is last):
            for _ in range(children_above):
                if new is last:
                    last.policy.pin(key)
                else:
                    last.policy.unpin(key)

    def _pin(self, key: BlockHash, tier: _Tier) -> None:
        self._pins[key] = self._pins.get(key, 0) + 1
        tier.policy.pin(key)

    def _unpin(self, key: BlockHash) -> None:
        count = self._pins.get(key)
        if count is None:
            raise KeyError(f"block {key!r} is not pinned")
        tier = self._home[key]
        tier.policy.unpin(key)
        if count > 1:
            self._pins[key] = count - 1
            return
        del self._pins[key]
        if key in self._doomed:
            self._doomed.discard(key)
            tier.policy.remove(key)
            self._release_slot(key, tier)

    def _count_hit(self, tier: _Tier) -> None:
        tier.stats.hits += 1
        for upper in self._tiers[: tier.index]:
            upper.stats.misses += 1

    def _count_miss(self, tiers: int) -> None:
        """A read missed the first `tiers` tiers."""
        for tier in self._tiers[:tiers]:
            tier.stats.misses += 1


def _make_arena(spec: TierSpec, slots: int, block_bytes: int) -> SlotArena:
    if spec.kind == "host":
        return HostArena(slots, block_bytes, pin_memory=spec.pin_memory)
    if spec.kind == "disk":
        return DiskArena(slots, block_bytes, spec.path)
    from kvtier.tiers.device import DeviceArena

    return DeviceArena(slots, block_bytes, device=spec.device)
