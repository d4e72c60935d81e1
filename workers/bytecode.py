"""Whether the workflows' modules have bytecode the import system will use.

The workflow sandbox imports a workflow's module afresh for every run. Without valid bytecode for it (the
folder is read-only, or `PYTHONDONTWRITEBYTECODE` is set, and nothing compiled it beforehand) each of those
imports compiles the module from source: in a profile of `optiinfra bench scale`, about a fifth of the
orchestration process's CPU. The image compiles it when it is built; a worker run from a source checkout
says so when it starts."""

import importlib.util
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

_HEADER_BYTES = 16
_HASH_BASED = 0b1


def without_bytecode(modules: Iterable[ModuleType]) -> list[str]:
    """The source files of `modules` whose cached bytecode is missing, of another Python, or not of the
    source as it is now (its recorded modification time or size differ)."""
    found = []
    for module in modules:
        source = getattr(module, "__file__", None)
        if source is None or not source.endswith(".py"):
            continue
        if not _current(Path(source), Path(importlib.util.cache_from_source(source))):
            found.append(source)
    return found


def _current(source: Path, cached: Path) -> bool:
    try:
        with cached.open("rb") as opened:
            header = opened.read(_HEADER_BYTES)
        stat = source.stat()
    except OSError:
        return False
    if len(header) < _HEADER_BYTES or header[:4] != importlib.util.MAGIC_NUMBER:
        return False
    if int.from_bytes(header[4:8], "little") & _HASH_BASED:
        return True  # checked against the source's hash by the import system itself
    recorded_mtime = int.from_bytes(header[8:12], "little")
    recorded_size = int.from_bytes(header[12:16], "little")
    return recorded_mtime == int(stat.st_mtime) & 0xFFFFFFFF and recorded_size == stat.st_size & 0xFFFFFFFF
