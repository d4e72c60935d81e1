"""Eviction policies by name: `make_policy("arc", 1000)`, `make_policy("lru+tinylfu", 1000)`."""

from __future__ import annotations

from collections.abc import Callable

from kvtier.policies.admission import TinyLfu
from kvtier.policies.arc import ArcPolicy
from kvtier.policies.base import AdmissionFilter, EvictionPolicy
from kvtier.policies.lru import LruPolicy
from kvtier.policies.s3fifo import S3FifoPolicy

POLICIES: dict[str, Callable[[int, AdmissionFilter | None], EvictionPolicy]] = {
    "lru": LruPolicy,
    "arc": ArcPolicy,
    "s3fifo": S3FifoPolicy,
}
"""Replacement policies by name."""

ADMISSIONS: dict[str, Callable[[int], AdmissionFilter]] = {"tinylfu": TinyLfu}
"""Admission filters by name; any of them can wrap any policy: "<policy>+<filter>"."""


def make_policy(spec: str, capacity: int) -> EvictionPolicy:
    """A fresh policy for `capacity` blocks from a spec such as "lru", "s3fifo" or "arc+tinylfu"."""
    name, _, admission = spec.strip().lower().partition("+")
    if name not in POLICIES:
        raise ValueError(f"unknown eviction policy {name!r}; known: {', '.join(sorted(POLICIES))}")
    if admission and admission not in ADMISSIONS:
        raise ValueError(f"unknown admission filter {admission!r}; known: {', '.join(sorted(ADMISSIONS))}")
    return POLICIES[name](capacity, ADMISSIONS[admission](capacity) if admission else None)


__all__ = [
    "ADMISSIONS",
    "POLICIES",
    "AdmissionFilter",
    "ArcPolicy",
    "EvictionPolicy",
    "LruPolicy",
    "S3FifoPolicy",
    "TinyLfu",
    "make_policy",
]
