"""How close a GPU's kernels come to its datasheet, as the roofline uses it.

The roofline times a step from datasheet peaks times achieved fractions. The datasheet fractions below
are what well-tuned kernels reach in general (see `roofline`); for the GPUs NVIDIA's silicon reference
covers, `python -m optiinfra.capacity.calibrate` fits each GPU's own fractions to the reference and ships
them in `data/roofline_calibration.json` with their provenance, the way the silicon tables are built.
A GPU without a fit (A10G, L4, T4) keeps the datasheet fractions.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

CALIBRATION_PATH = Path(__file__).parent / "data" / "roofline_calibration.json"


@dataclass(frozen=True)
class StepEfficiency:
    """Achieved fractions of a GPU's datasheet figures, and the host's fixed time per engine step."""

    bandwidth: float
    """Of the memory bandwidth, while streaming weights and KV (decode)."""
    matmul: float
    """Of the dense tensor-core peak, in compute-bound steps (prefill, large batches)."""
    interconnect: float
    """Of the GPU-to-GPU link rate, for the ring all-reduces of tensor parallelism."""
    step_overhead_s: float
    """Host time per step the GPU does not hide: scheduling, sampling, launch gaps."""
    cross_domain_interconnect: float = 0.7
    """Of the link rate, for a PCIe ring that spans sockets (`GpuSpec.gpus_per_pcie_domain`): GPU-to-GPU
    copies then cross the CPUs' interconnect or stage through host memory. The datasheet default charges
    nothing extra (the same fraction as within a socket): no published figure pins it."""
    request_overhead_s: float = 0.03
    """Time before and after the GPU on every request: HTTP, chat template, tokenization,
    detokenization and streaming (see `roofline.API_SERVER_OVERHEAD_S`)."""
    admission_per_layer_s: float = 0.0
    """Host time to admit a new request before its first token, per model layer (input preparation and
    the kernel launches of a prefill outside CUDA graphs)."""

    def __post_init__(self) -> None:
        for name in ("bandwidth", "matmul", "interconnect", "cross_domain_interconnect"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"{name} efficiency must be in (0, 1], got {value}")
        if min(self.step_overhead_s, self.request_overhead_s, self.admission_per_layer_s) < 0:
            raise ValueError("host overheads cannot be negative")


DATASHEET_EFFICIENCY = StepEfficiency(
    bandwidth=0.8, matmul=0.6, interconnect=0.7, step_overhead_s=0.001, request_overhead_s=0.03
)
"""Device-to-device copies reach 85-90% of peak bandwidth and decode kernels a little less; cuBLAS reaches
70-80% of peak on large GEMMs and LLM layers add low-intensity work (norms, rotary, sampling), so
end-to-end MFU of 50-60% is what serving stacks report; NCCL's bus bandwidth runs at about 70% of the link
rate; current vLLM spends about a millisecond of host time per step; a request costs the API server's
overhead, with admission not told apart from it."""


@dataclass(frozen=True)
class Calibration:
    """The fitted fractions per GPU name and where they came from."""

    efficiencies: dict[str, StepEfficiency]
    provenance: dict[str, Any]

    def for_gpu(self, gpu_name: str) -> StepEfficiency | None:
        return self.efficiencies.get(gpu_name)

    def to_document(self) -> dict[str, Any]:
        return {
            "provenance": self.provenance,
            "gpus": {name: asdict(found) for name, found in sorted(self.efficiencies.items())},
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Calibration:
        return cls(
            {name: StepEfficiency(**values) for name, values in document["gpus"].items()},
            dict(document.get("provenance", {})),
        )


@cache
def shipped_calibration() -> Calibration:
    """The fitted fractions shipped with the package (none when the file is absent)."""
    if not CALIBRATION_PATH.exists():
        return Calibration({}, {})
    return Calibration.from_document(json.loads(CALIBRATION_PATH.read_text()))
