"""The silicon reference: NVIDIA aiconfigurator's estimates from kernel timings measured on real GPUs,
shipped as tables (`data/silicon_vllm.json`, built by `optiinfra.capacity.silicon_build`) and read here
without the package.

Each table is one deployment (GPU, model, tensor-parallel degree) of vLLM at its defaults: TTFT, TPOT and
requests/s with `batch` requests kept in flight, over a grid of prompt lengths (isl), output lengths (osl)
and batches. Between grid points the figures are interpolated linearly in the logarithms of all four
quantities (latencies grow close to a power law in each coordinate). Prompts shorter than the grid read
as the shortest row (a conservative answer); longer prompts or outputs, or larger batches, are outside the
reference and fall to the next source.
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DEFAULT_TABLE_PATH = Path(__file__).parent / "data" / "silicon_vllm.json"

SILICON_ISLS = (128, 256, 512, 1024, 2048, 4096, 8192, 16384)
SILICON_OSLS = (16, 32, 64, 128, 256, 512, 1024, 2048)
SILICON_BATCHES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)


@dataclass(frozen=True)
class SiliconKey:
    """A deployment the tables may cover: our GPU spec name, our capacity-model name, the TP degree."""

    gpu: str
    model: str
    tp: int


@dataclass(frozen=True)
class SiliconPoint:
    """The reference at one request shape and batch (means: aiconfigurator gives no spread)."""

    ttft_ms: float
    tpot_ms: float
    requests_per_s: float
    fits: bool


@dataclass(frozen=True)
class SiliconProvenance:
    source: str
    backend: str
    built: str
    database_version: str
    system: str

    def describe(self) -> str:
        return (
            f"{self.source}, {self.backend} database {self.database_version} on {self.system}, "
            f"tables built {self.built}"
        )


class SiliconTable:
    """One deployment's grid, ready to interpolate."""

    def __init__(self, provenance: SiliconProvenance, rows: list[list[Any]]) -> None:
        self.provenance = provenance
        self._values: dict[tuple[int, int, int], SiliconPoint] = {
            (int(isl), int(osl), int(batch)): SiliconPoint(float(ttft), float(tpot), float(rps), bool(fits))
            for isl, osl, batch, ttft, tpot, rps, fits in rows
        }

    def covers(self, isl: float, osl: float, batch: float) -> bool:
        return isl <= SILICON_ISLS[-1] and osl <= SILICON_OSLS[-1] and 1 <= batch <= SILICON_BATCHES[-1]

    def at(self, isl: float, osl: float, batch: float) -> SiliconPoint | None:
        """The interpolated reference; None outside the grid."""
        if not self.covers(isl, osl, batch):
            return None
        corners = [_bracket(SILICON_ISLS, isl), _bracket(SILICON_OSLS, osl), _bracket(SILICON_BATCHES, batch)]
        logs = [0.0, 0.0, 0.0]
        fits = True
        for i_index, i_weight in corners[0]:
            for o_index, o_weight in corners[1]:
                for b_index, b_weight in corners[2]:
                    weight = i_weight * o_weight * b_weight
                    if weight == 0.0:
                        continue
                    point = self._values[(i_index, o_index, b_index)]
                    logs[0] += weight * math.log(point.ttft_ms)
                    logs[1] += weight * math.log(point.tpot_ms)
                    logs[2] += weight * math.log(point.requests_per_s)
                    fits = fits and point.fits
        return SiliconPoint(math.exp(logs[0]), math.exp(logs[1]), math.exp(logs[2]), fits)


def _bracket(grid: tuple[int, ...], value: float) -> list[tuple[int, float]]:
    """The two grid values around `value` with their log-linear weights (clamped below the grid)."""
    if value <= grid[0]:
        return [(grid[0], 1.0)]
    upper = bisect.bisect_left(grid, value)
    if grid[upper] == value:
        return [(grid[upper], 1.0)]
    low, high = grid[upper - 1], grid[upper]
    weight = (math.log(value) - math.log(low)) / (math.log(high) - math.log(low))
    return [(low, 1.0 - weight), (high, weight)]


class SiliconReference:
    """Every table in a file, by deployment."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._tables: dict[SiliconKey, SiliconTable] = {}
        for table in document["tables"]:
            provenance = SiliconProvenance(
                source=document["source"],
                backend=document["backend"],
                built=document["built"],
                database_version=table["database_version"],
                system=table["system"],
            )
            key = SiliconKey(table["gpu"], table["model"], int(table["tp"]))
            self._tables[key] = SiliconTable(provenance, table["points"])

    @classmethod
    def load(cls, path: Path = DEFAULT_TABLE_PATH) -> SiliconReference:
        return cls(json.loads(path.read_text()))

    def table(self, key: SiliconKey) -> SiliconTable | None:
        return self._tables.get(key)

    @property
    def keys(self) -> list[SiliconKey]:
        return sorted(self._tables, key=lambda k: (k.gpu, k.model, k.tp))


@cache
def default_silicon_reference() -> SiliconReference:
    """The shipped tables, read once per process."""
    return SiliconReference.load()
