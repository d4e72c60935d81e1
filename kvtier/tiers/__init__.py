"""Slot arenas: fixed-size block slots in device memory, host DRAM or a file on local disk.

An arena only stores bytes by slot number; which block is in which slot, and what to evict, is the
store's business. Every arena has the same four operations (`write`, `read_into`, `read`, `close`); reads
and writes of different slots may run concurrently from several threads."""

from kvtier.tiers.base import SlotArena, as_bytes_view, as_writable_view
from kvtier.tiers.disk import DiskArena
from kvtier.tiers.host import HostArena

__all__ = ["DiskArena", "HostArena", "SlotArena", "as_bytes_view", "as_writable_view"]
