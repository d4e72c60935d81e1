"""Benchmark: kvtier's eviction policies against Belady on the Mooncake conversation trace, and the speed of
its index and tiers, all measured in one run.

- Hit rates: the trace (one 512-token prefix block per hash id) is replayed through every policy at
  capacities that are fractions of its working set (the distinct blocks), next to Belady's offline
  optimum at the same capacity. The replay is `kvtier.replay`'s: per request, the leading cached blocks
  are hits, the rest are stored, the hits are touched; unlimited capacity gives the trace's 36.6%.
- Index: policy operations per second over that whole replay grid (blocks looked up, stored, touched).
- Prefix lookup: `TieredStore.lookup` of an 8,192-block chain of 32-byte hashes (vLLM's SHA-256 block
  hashes), every block cached, so each lookup walks the whole chain: p50 and p99.
- Host tier: `put` and `get_into` bandwidth of a host-only store against `numpy.copyto` of the same
  blocks between the same kind of preallocated buffers.
- Disk tier: `put` and `get_into` bandwidth of a disk-only store (CRC-32 on every block) against a plain
  sequential file write and read of the same blocks. Both sides are treated alike: one fsync at the end of
  each write pass (timed), and the file's page cache dropped (POSIX_FADV_DONTNEED) before each read pass,
  so reads come from the device and not from memory.

    optiinfra bench kvtier [--trace PATH] [--data-dir DIR] [--json FILE] [--fractions F,F,...]
                           [--policies P,P,...] [--requests N] [--bandwidth-blocks N] [--block-kib K]
                           [--rounds N] [--scratch DIR]
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kvtier.belady import BeladyOracle
from kvtier.policies import make_policy
from kvtier.replay import replay, working_set
from kvtier.store import TieredStore, TierSpec
from kvtier.tiers import DiskArena
from kvtier.trace import BLOCK_TOKENS, load_mooncake
from optiinfra.sim.traffic.generator import MOONCAKE_CONVERSATION_TRACE

U8Blocks = npt.NDArray[np.uint8]

POLICIES = ("lru", "arc", "s3fifo", "lru+tinylfu")
"""Every policy with its default parameters (the papers' where they give one): nothing is tuned to this
trace."""
BASELINE = "lru"
ORACLE = "belady"
FRACTIONS = (0.02, 0.05, 0.1, 0.2, 1 / 3, 0.5, 0.75, 1.0)
"""Capacities as fractions of the working set. The trace's reused blocks are few (at most 8,138 blocks are
live, i.e. seen and needed again, at any request: 4.5% of the working set), so from 0.1 up every capacity
is roomy for an optimal policy; 0.02 and 0.05 show where the policies really differ."""
UNLIMITED_HIT_RATE = 0.366
"""The conversation trace's block hit rate with unlimited capacity (105,710 of 288,500 blocks)."""
LOOKUP_CHAIN = 8192
LOOKUP_SAMPLES = 300
HASH_BYTES = 32
BLOCK_BYTES = 2 << 20
"""Bytes per block in the bandwidth measurements: one layer of a 512-token block of Llama-3.1-8B in BF16
(8 KV heads x 128 dims x K and V x 2 bytes = 4 KiB per token and layer). vLLM keeps every layer's KV cache
in its own tensor, so offloading moves per-layer pieces of a block; the whole block over 32 layers (64 MiB)
would leave room for only a handful of blocks within the bench's 2 GiB."""
BANDWIDTH_BLOCKS = 128
"""Blocks per bandwidth pass: 256 MiB, well beyond the CPU caches, so both sides stream from DRAM."""
ROUNDS = 5
"""Passes per bandwidth measurement; each figure is the median pass."""

GOAL_ADAPTIVE_GAIN = 0.02
GOAL_ROOMY_LOSS = 0.01
GOAL_INDEX_OPS = 500_000
GOAL_HOST_RATIO = 0.5
GOAL_DISK_RATIO = 0.7
ADAPTIVE_FRACTION = 1 / 3
ROOMY_FRACTIONS = (0.75, 1.0)


class BenchDataError(FileNotFoundError):
    """The trace the bench replays is not where the settings (or --trace) say."""


def fraction_key(fraction: float) -> str:
    """A capacity fraction as a JSON key: "0.1", "0.333", "1.0"."""
    return str(round(fraction, 3))


@dataclass(frozen=True)
class Bandwidth:
    """Median-pass bandwidths in GB/s (1e9 bytes) of a tier and of its plain baseline."""

    put_gbps: float
    get_gbps: float
    baseline_put_gbps: float
    baseline_get_gbps: float

    @property
    def put_ratio(self) -> float:
        return self.put_gbps / self.baseline_put_gbps

    @property
    def get_ratio(self) -> float:
        return self.get_gbps / self.baseline_get_gbps

    @property
    def ratio(self) -> float:
        """The worse of the two directions."""
        return min(self.put_ratio, self.get_ratio)


@dataclass
class KvtierBenchResult:
    trace: Path
    requests: int
    accesses: int
    working_set: int
    fractions: tuple[float, ...]
    policies: tuple[str, ...]
    capacities: dict[str, int]
    hit_rate: dict[str, dict[str, float]]
    index_ops: dict[str, tuple[int, float]]
    """Per policy: operations and seconds over the whole replay grid."""
    lookup_ms: list[float]
    host: Bandwidth
    disk: Bandwidth
    block_bytes: int
    bandwidth_blocks: int
    rounds: int
    elapsed_s: float = 0.0
    goals: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def index_ops_per_s(self) -> float:
        operations = sum(count for count, _ in self.index_ops.values())
        seconds = sum(elapsed for _, elapsed in self.index_ops.values())
        return operations / seconds if seconds > 0 else 0.0

    def lookup_percentile(self, q: float) -> float:
        ordered = sorted(self.lookup_ms)
        rank = max(1, -(-len(ordered) * q // 100))
        return ordered[int(rank) - 1]

    def to_json(self) -> dict[str, object]:
        return {
            "trace": str(self.trace),
            "block_tokens": BLOCK_TOKENS,
            "requests": self.requests,
            "accesses": self.accesses,
            "working_set": self.working_set,
            "capacities": self.capacities,
            "hit_rate": self.hit_rate,
            "index_ops_per_s": self.index_ops_per_s,
            "index_ops_per_s_by_policy": {
                name: count / elapsed if elapsed > 0 else 0.0
                for name, (count, elapsed) in self.index_ops.items()
            },
            "lookup_chain": LOOKUP_CHAIN,
            "lookup_p50_ms": self.lookup_percentile(50),
            "lookup_p99_ms": self.lookup_percentile(99),
            "block_bytes": self.block_bytes,
            "bandwidth_blocks": self.bandwidth_blocks,
            "rounds": self.rounds,
            "host_put_gbps": self.host.put_gbps,
            "host_get_gbps": self.host.get_gbps,
            "memcpy_gbps": self.host.baseline_put_gbps,
            "host_put_vs_memcpy": self.host.put_ratio,
            "host_get_vs_memcpy": self.host.get_ratio,
            "host_vs_memcpy": self.host.ratio,
            "disk_put_gbps": self.disk.put_gbps,
            "disk_get_gbps": self.disk.get_gbps,
            "file_write_gbps": self.disk.baseline_put_gbps,
            "file_read_gbps": self.disk.baseline_get_gbps,
            "disk_put_vs_file": self.disk.put_ratio,
            "disk_get_vs_file": self.disk.get_ratio,
            "disk_vs_file": self.disk.ratio,
            "disk_sync": "fsync once per write pass on both sides (timed); page cache dropped before reads",
            "goals": {name: met for name, met, _ in self.goals},
            "elapsed_s": self.elapsed_s,
        }


# --- hit rates and the index ------------------------------------------------------------------------------


def measure_hit_rates(
    chains: Sequence[Sequence[int]], fractions: Sequence[float], policies: Sequence[str]
) -> tuple[dict[str, int], dict[str, dict[str, float]], dict[str, tuple[int, float]]]:
    """Capacities, hit rates per policy (and Belady) per fraction, and per-policy index operations."""
    distinct = working_set(chains)
    capacities = {fraction_key(f): max(1, round(distinct * f)) for f in fractions}
    hit_rate: dict[str, dict[str, float]] = {name: {} for name in (*policies, ORACLE)}
    index_ops: dict[str, tuple[int, float]] = {}
    oracle = BeladyOracle(chains)
    for key, capacity in capacities.items():
        for name in policies:
            result = replay(chains, make_policy(name, capacity))
            hit_rate[name][key] = result.hit_rate
            count, elapsed = index_ops.get(name, (0, 0.0))
            index_ops[name] = (count + result.operations, elapsed + result.elapsed_s)
        hit_rate[ORACLE][key] = oracle.replay(capacity).hit_rate
    return capacities, hit_rate, index_ops


def measure_lookup(chain_length: int = LOOKUP_CHAIN, samples: int = LOOKUP_SAMPLES) -> list[float]:
    """Milliseconds per `TieredStore.lookup` of a fully cached chain of `chain_length` 32-byte hashes."""
    hashes: list[bytes] = []
    previous = b"kvtier-bench"
    for index in range(chain_length):
        previous = hashlib.sha256(previous + index.to_bytes(4, "little")).digest()[:HASH_BYTES]
        hashes.append(previous)
    payload = bytes(64)
    with TieredStore(64, [TierSpec("host", capacity_blocks=chain_length)], workers=1) as store:
        parent: bytes | None = None
        for key in hashes:
            store.put(key, payload, parent)
            parent = key
        if store.lookup(hashes) != chain_length:
            raise RuntimeError("the lookup chain was not fully cached")
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            store.lookup(hashes)
            timings.append((time.perf_counter() - started) * 1000.0)
    return timings


# --- bandwidth ----------------------------------------------------------------------------------------------


def _random_blocks(blocks: int, block_bytes: int, seed: int = 7) -> U8Blocks:
    words = np.random.default_rng(seed).integers(0, 2**63, blocks * block_bytes // 8, dtype=np.uint64)
    return words.view(np.uint8).reshape(blocks, block_bytes)


def _prefaulted(blocks: int, block_bytes: int) -> U8Blocks:
    """Destination blocks with every page already touched (first touches cost more than the copies)."""
    return np.ones((blocks, block_bytes), dtype=np.uint8)


def _gbps(total_bytes: int, seconds: Sequence[float]) -> float:
    return total_bytes / statistics.median(seconds) / 1e9


def measure_host(block_bytes: int, blocks: int, rounds: int) -> Bandwidth:
    source = _random_blocks(blocks, block_bytes)
    target = _prefaulted(blocks, block_bytes)
    puts: list[float] = []
    gets: list[float] = []
    copies: list[float] = []
    with TieredStore(block_bytes, [TierSpec("host", capacity_blocks=blocks)], workers=1) as store:
        for round_index in range(rounds):
            first = round_index * blocks
            started = time.perf_counter()
            for index in range(blocks):
                store.put(first + index, source[index])
            puts.append(time.perf_counter() - started)
            started = time.perf_counter()
            for index in range(blocks):
                if not store.get_into(first + index, target[index]):
                    raise RuntimeError("a host block went missing")
            gets.append(time.perf_counter() - started)
            if not np.array_equal(target[blocks - 1], source[blocks - 1]):
                raise RuntimeError("a host block came back different")
            started = time.perf_counter()
            for index in range(blocks):
                np.copyto(target[index], source[index])
            copies.append(time.perf_counter() - started)
    total = blocks * block_bytes
    return Bandwidth(_gbps(total, puts), _gbps(total, gets), _gbps(total, copies), _gbps(total, copies))


def _drop_page_cache(path: Path) -> None:
    """Evicts a file's (clean) pages from the page cache, so the next read comes from the device."""
    if not hasattr(os, "posix_fadvise"):  # pragma: no cover - non-Linux
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def _plain_write(path: Path, source: U8Blocks) -> None:
    """Writes the blocks one after the other from the start of `path`, in place (no truncation: the tier's
    arena is overwritten in place too), then fsyncs."""
    descriptor = os.open(path, os.O_WRONLY)
    try:
        for block in source:
            view = block.data
            written = 0
            while written < len(view):
                written += os.write(descriptor, view[written:])
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _plain_read(path: Path, target: U8Blocks) -> None:
    with path.open("rb", buffering=0) as handle:
        for block in target:
            view = block.data
            done = 0
            while done < len(view):
                count = handle.readinto(view[done:])
                if not count:
                    raise RuntimeError(f"{path} is shorter than what was written")
                done += count


def measure_disk(block_bytes: int, blocks: int, rounds: int, scratch: Path | None) -> Bandwidth:
    source = _random_blocks(blocks, block_bytes, seed=11)
    target = _prefaulted(blocks, block_bytes)
    puts: list[float] = []
    gets: list[float] = []
    writes: list[float] = []
    reads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="kvtier-bench-", dir=scratch) as folder:
        plain = Path(folder) / "plain.bin"
        with plain.open("wb") as handle:  # preallocated (sparse) like the tier's arena
            handle.truncate(blocks * block_bytes)
        tier = TierSpec("disk", capacity_blocks=blocks, path=Path(folder) / "tier.arena")
        with TieredStore(block_bytes, [tier], workers=1) as store:
            arena = store.arena("disk")
            assert isinstance(arena, DiskArena)
            for round_index in range(rounds):
                first = round_index * blocks
                started = time.perf_counter()
                for index in range(blocks):
                    store.put(first + index, source[index])
                arena.sync()
                puts.append(time.perf_counter() - started)
                _drop_page_cache(arena.path)
                started = time.perf_counter()
                for index in range(blocks):
                    if not store.get_into(first + index, target[index]):
                        raise RuntimeError("a disk block went missing or failed its checksum")
                gets.append(time.perf_counter() - started)
                started = time.perf_counter()
                _plain_write(plain, source)
                writes.append(time.perf_counter() - started)
                _drop_page_cache(plain)
                started = time.perf_counter()
                _plain_read(plain, target)
                reads.append(time.perf_counter() - started)
    total = blocks * block_bytes
    return Bandwidth(_gbps(total, puts), _gbps(total, gets), _gbps(total, writes), _gbps(total, reads))


# --- the run ------------------------------------------------------------------------------------------------


def run_kvtier_bench(
    data_dir: Path,
    *,
    trace: Path | None = None,
    fractions: Sequence[float] = FRACTIONS,
    policies: Sequence[str] = POLICIES,
    requests: int | None = None,
    block_bytes: int = BLOCK_BYTES,
    bandwidth_blocks: int = BANDWIDTH_BLOCKS,
    rounds: int = ROUNDS,
    scratch: Path | None = None,
    json_path: Path | None = None,
) -> KvtierBenchResult:
    started = time.perf_counter()
    path = trace if trace is not None else data_dir / MOONCAKE_CONVERSATION_TRACE
    if not path.is_file():
        raise BenchDataError(
            f"no trace at {path}: set --trace, or --data-dir (OPTIINFRA_DATA_DIR) to the folder with mooncake"
        )
    for name in policies:
        make_policy(name, 1)  # an unknown name fails before the long part
    if block_bytes % 8:
        raise ValueError(f"the bandwidth block size must be a multiple of 8 bytes, got {block_bytes}")
    chains = [request.hash_ids for request in load_mooncake(path, limit=requests)]
    if not chains:
        raise ValueError(f"{path} has no requests")
    capacities, hit_rate, index_ops = measure_hit_rates(chains, fractions, policies)
    result = KvtierBenchResult(
        trace=path,
        requests=len(chains),
        accesses=sum(len(chain) for chain in chains),
        working_set=working_set(chains),
        fractions=tuple(fractions),
        policies=tuple(policies),
        capacities=capacities,
        hit_rate=hit_rate,
        index_ops=index_ops,
        lookup_ms=measure_lookup(),
        host=measure_host(block_bytes, bandwidth_blocks, rounds),
        disk=measure_disk(block_bytes, bandwidth_blocks, rounds, scratch),
        block_bytes=block_bytes,
        bandwidth_blocks=bandwidth_blocks,
        rounds=rounds,
    )
    result.goals = evaluate_goals(result)
    result.elapsed_s = time.perf_counter() - started
    if json_path is not None:
        json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def evaluate_goals(result: KvtierBenchResult) -> list[tuple[str, bool, str]]:
    """(name, met, what was measured) for every goal the run's settings can judge."""
    goals: list[tuple[str, bool, str]] = []
    rates = result.hit_rate
    full, third = fraction_key(1.0), fraction_key(ADAPTIVE_FRACTION)
    if BASELINE in rates and full in rates[BASELINE]:
        value = rates[BASELINE][full]
        goals.append(
            (
                "unlimited_hit_rate",
                abs(value - UNLIMITED_HIT_RATE) <= 0.001,
                f"unlimited capacity gives {value:.2%} (the conversation trace's: {UNLIMITED_HIT_RATE:.1%})",
            )
        )
    adaptive = [name for name in result.policies if name != BASELINE]
    if adaptive and BASELINE in rates and third in rates[BASELINE]:
        best = max(adaptive, key=lambda name: rates[name][third])
        gain = rates[best][third] - rates[BASELINE][third]
        headroom = rates[ORACLE][third] - rates[BASELINE][third]
        goals.append(
            (
                "adaptive_beats_lru_at_one_third",
                gain >= GOAL_ADAPTIVE_GAIN,
                f"at 1/3 of the working set the best adaptive policy ({best}) is {gain * 100:+.2f} points "
                f"from LRU (goal +{GOAL_ADAPTIVE_GAIN * 100:.0f}); Belady's optimum is {headroom * 100:+.2f}",
            )
        )
        roomy = [fraction_key(f) for f in ROOMY_FRACTIONS if fraction_key(f) in rates[BASELINE]]
        if roomy:
            loss = max(rates[BASELINE][key] - rates[best][key] for key in roomy)
            goals.append(
                (
                    "adaptive_close_to_lru_when_roomy",
                    loss <= GOAL_ROOMY_LOSS,
                    f"{best} is at most {loss * 100:.2f} points below LRU at {', '.join(roomy)} "
                    f"(goal {GOAL_ROOMY_LOSS * 100:.0f})",
                )
            )
    goals.append(
        (
            "index_ops_per_s",
            result.index_ops_per_s >= GOAL_INDEX_OPS,
            f"{result.index_ops_per_s:,.0f} index operations/s (goal {GOAL_INDEX_OPS:,})",
        )
    )
    goals.append(
        (
            "host_vs_memcpy",
            result.host.ratio >= GOAL_HOST_RATIO,
            f"host tier at {result.host.ratio:.0%} of a plain memory copy (goal {GOAL_HOST_RATIO:.0%})",
        )
    )
    goals.append(
        (
            "disk_vs_file",
            result.disk.ratio >= GOAL_DISK_RATIO,
            f"disk tier at {result.disk.ratio:.0%} of a plain file write/read (goal {GOAL_DISK_RATIO:.0%})",
        )
    )
    return goals


def render(result: KvtierBenchResult) -> str:
    names = [*result.policies, ORACLE]
    width = max(10, *(len(name) + 2 for name in names))
    lines = [
        f"trace {result.trace}: {result.requests:,} requests, {result.accesses:,} blocks of {BLOCK_TOKENS} "
        f"tokens, working set {result.working_set:,} distinct blocks",
        "",
        "block hit rate by capacity (fraction of the working set):",
        f"{'fraction':>8} {'blocks':>8}"
        + "".join(f"{name:>{width}}" for name in names)
        + f"{'best-lru':>10}",
    ]
    adaptive = [name for name in result.policies if name != BASELINE]
    for key, capacity in result.capacities.items():
        row = f"{key:>8} {capacity:>8,}" + "".join(
            f"{result.hit_rate[name][key]:>{width}.2%}" for name in names
        )
        if adaptive and BASELINE in result.hit_rate:
            gain = max(result.hit_rate[name][key] for name in adaptive) - result.hit_rate[BASELINE][key]
            row += f"{gain * 100:>+9.2f}p"
        lines.append(row)
    lines += [
        "",
        f"index: {result.index_ops_per_s:,.0f} operations/s over the grid ("
        + ", ".join(f"{name} {count / elapsed:,.0f}" for name, (count, elapsed) in result.index_ops.items())
        + ")",
        f"prefix lookup of {LOOKUP_CHAIN:,} cached hashes: p50 {result.lookup_percentile(50):.3f} ms, "
        f"p99 {result.lookup_percentile(99):.3f} ms ({len(result.lookup_ms)} lookups)",
        f"bandwidth: {result.bandwidth_blocks} blocks of {result.block_bytes / 2**20:g} MiB per pass, "
        f"median of {result.rounds} passes, GB/s",
        f"  host tier put {result.host.put_gbps:.2f}, get {result.host.get_gbps:.2f}; memory copy "
        f"{result.host.baseline_put_gbps:.2f} -> put {result.host.put_ratio:.0%}, "
        f"get {result.host.get_ratio:.0%}",
        f"  disk tier put {result.disk.put_gbps:.2f}, get {result.disk.get_gbps:.2f}; plain file write "
        f"{result.disk.baseline_put_gbps:.2f}, read {result.disk.baseline_get_gbps:.2f} -> put "
        f"{result.disk.put_ratio:.0%}, get {result.disk.get_ratio:.0%}",
        "  (disk, both sides: one fsync per write pass, timed; page cache dropped before each read pass)",
        "",
    ]
    lines += [f"goal {'met' if met else 'NOT met'}: {detail}" for _, met, detail in result.goals]
    lines.append(f"elapsed_s {result.elapsed_s:.1f}")
    return "\n".join(lines)
