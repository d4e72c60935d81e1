"""TinyLFU admission (Einziger, Friedman & Manes, 2017): admit a newcomer only if it is seen more often than
the block it would replace. It wraps any policy: the policy picks the victim, the filter says yes or no."""

from __future__ import annotations

from kvtier.blocks import BlockHash

MAX_COUNT = 15
"""Counters saturate at 15 (four bits in the paper; a byte here)."""
_HALVE = bytes(value >> 1 for value in range(256))
_MASK64 = (1 << 64) - 1
_MIX_A = 0x9E3779B97F4A7C15
_MIX_B = 0xC2B2AE3D27D4EB4F


class TinyLfu:
    """A count-min sketch of recent access frequencies with a doorkeeper and periodic aging.

    - count-min: `depth` rows of byte counters; a key's estimate is the smallest of its counters, so
      collisions can only overestimate;
    - doorkeeper: a key's first access since the last aging only enters a set, so the many blocks seen
      once never reach the sketch (the paper uses a Bloom filter; a set is exact and small at these sizes);
    - aging: after `sample_factor` x capacity recorded accesses every counter is halved and the doorkeeper
      cleared, so the sketch follows the recent past rather than all history.

    `admit` lets a candidate in when its estimate is at least the victim's (`strict=False`, the default:
    ties go to the newcomer, which keeps the recency of the wrapped policy for blocks seen equally often)
    or strictly above it (`strict=True`, the paper's rule).
    """

    name = "tinylfu"

    def __init__(
        self, capacity: int, *, depth: int = 4, sample_factor: int = 10, strict: bool = False
    ) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        width = 16
        while width < capacity:
            width <<= 1
        self.depth = depth
        self.width = width
        self.sample_size = max(16, sample_factor * capacity)
        self.strict = strict
        self.resets = 0
        self._bits = width.bit_length() - 1
        self._counters = bytearray(depth * width)
        self._doorkeeper: set[BlockHash] = set()
        self._additions = 0

    def _indexes(self, key: BlockHash) -> list[int]:
        # double hashing (Kirsch & Mitzenmacher): row i uses h1 + i * h2, top bits
        value = hash(key)
        h1 = (value * _MIX_A) & _MASK64
        h2 = ((value * _MIX_B) & _MASK64) | 1
        shift = 64 - self._bits
        width = self.width
        return [row * width + (((h1 + row * h2) & _MASK64) >> shift) for row in range(self.depth)]

    def record(self, key: BlockHash) -> None:
        doorkeeper = self._doorkeeper
        if key not in doorkeeper:
            doorkeeper.add(key)
        else:
            counters = self._counters
            for index in self._indexes(key):
                if counters[index] < MAX_COUNT:
                    counters[index] += 1
        self._additions += 1
        if self._additions >= self.sample_size:
            self.age()

    def estimate(self, key: BlockHash) -> int:
        counters = self._counters
        count = min(counters[index] for index in self._indexes(key))
        return count + (1 if key in self._doorkeeper else 0)

    def admit(self, candidate: BlockHash, victim: BlockHash) -> bool:
        candidate_count = self.estimate(candidate)
        victim_count = self.estimate(victim)
        return candidate_count > victim_count if self.strict else candidate_count >= victim_count

    def age(self) -> None:
        """Halves every counter and clears the doorkeeper."""
        self._counters = bytearray(self._counters.translate(_HALVE))
        self._doorkeeper.clear()
        self._additions //= 2
        self.resets += 1
