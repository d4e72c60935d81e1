"""Datasheet figures for the NVIDIA GPUs in the price catalog, keyed by the catalog's `gpu_model` strings.

Tensor throughput is the dense figure (NVIDIA datasheets quote 2:4-sparse numbers first; those are halved
here), because vLLM runs dense weights. Bandwidths are in GB/s (10^9 bytes). `interconnect_gbps` is the
GPU-to-GPU bandwidth in one direction, which is what a ring all-reduce for tensor parallelism streams over.

`driver_visible_gib` is the memory the CUDA driver reports (what `nvidia-smi` shows and what vLLM's
`gpu_memory_utilization` is a fraction of). It is smaller than the datasheet capacity on GDDR6 cards,
where in-band ECC reserves 1/16 of the memory, and slightly smaller on HBM cards.
"""

from dataclasses import dataclass
from functools import cached_property

from optiinfra.capacity.efficiency import DATASHEET_EFFICIENCY, StepEfficiency, shipped_calibration
from optiinfra.domain.fleet import InstanceType

MIB_PER_GIB = 1024.0
PCIE_GEN3_X16_GBPS = 16.0
PCIE_GEN4_X16_GBPS = 32.0
PCIE_SOCKET_GPUS = 4


@dataclass(frozen=True)
class GpuSpec:
    """One GPU's capacity and speed limits, the inputs of the roofline model."""

    name: str
    hbm_gib: float
    hbm_bandwidth_gbps: float
    dense_fp16_tflops: float
    dense_fp8_tflops: float | None
    interconnect_gbps: float
    driver_visible_gib: float
    gpus_per_pcie_domain: int | None = None
    """PCIe cards without NVLink: how many GPUs share one socket's PCIe root, beyond which a ring
    all-reduce crosses sockets (AWS's 8-GPU PCIe instances are two sockets of four). None for NVLink."""
    efficiency: StepEfficiency | None = None
    """Achieved fractions of the figures above; None reads the shipped calibration, else the datasheet
    fractions (`achieved`)."""

    @cached_property
    def achieved(self) -> StepEfficiency:
        """The fractions its steps run at: its own, the shipped calibration's, else the datasheet's (read
        once: every step time asks)."""
        return self.efficiency or shipped_calibration().for_gpu(self.name) or DATASHEET_EFFICIENCY

    def peak_flops(self, fp8: bool = False) -> float:
        """Dense tensor FLOP/s; FP8 only where the GPU has FP8 tensor cores, else the FP16 rate."""
        tflops = (
            self.dense_fp8_tflops if fp8 and self.dense_fp8_tflops is not None else self.dense_fp16_tflops
        )
        return tflops * 1e12

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.hbm_bandwidth_gbps * 1e9


# NVIDIA publishes no A10G datasheet (an AWS-specific part). 24 GB GDDR6 at 600 GB/s and about 70 dense
# FP16 tensor TFLOPS as compared by Baseten, "NVIDIA A10 vs A10G for ML model inference" (baseten.co,
# 2023) - the TFLOPS figure is approximate. 23028 MiB visible, as nvidia-smi reports (sim/demo_fleet.py).
A10G = GpuSpec(
    "NVIDIA A10G", 24.0, 600.0, 70.0, None, PCIE_GEN4_X16_GBPS, 23028 / MIB_PER_GIB, PCIE_SOCKET_GPUS
)

# NVIDIA L4 datasheet: 24 GB GDDR6, 300 GB/s, FP16 tensor 242 TFLOPS and FP8 485 TFLOPS with sparsity
# (121 / 242.5 dense), PCIe Gen4 x16. 23034 MiB visible, as nvidia-smi reports (see sim/demo_fleet.py).
L4 = GpuSpec(
    "NVIDIA L4", 24.0, 300.0, 121.0, 242.5, PCIE_GEN4_X16_GBPS, 23034 / MIB_PER_GIB, PCIE_SOCKET_GPUS
)

# NVIDIA L40S datasheet: 48 GB GDDR6 with ECC, 864 GB/s, BF16/FP16 tensor 362.05 | 733 (sparse) TFLOPS,
# FP8 733 | 1,466 (sparse), PCIe Gen4 x16 (no NVLink). Visible memory: 48 GiB less the 1/16 ECC reservation.
L40S = GpuSpec(
    "NVIDIA L40S", 48.0, 864.0, 362.05, 733.0, PCIE_GEN4_X16_GBPS, 48.0 * 15 / 16, PCIE_SOCKET_GPUS
)

# NVIDIA T4 datasheet: 16 GB GDDR6, 320 GB/s, 65 TFLOPS mixed-precision FP16 (Turing has no sparsity
# mode, so the figure is dense), PCIe Gen3 x16. About 15360 MiB visible with ECC on. g5g's T4G is the same
# part.
T4 = GpuSpec("NVIDIA T4", 16.0, 320.0, 65.0, None, PCIE_GEN3_X16_GBPS, 15.0, PCIE_SOCKET_GPUS)

# NVIDIA A100 datasheet (SXM4, as in p4d/p4de): 40 GB HBM2 at 1,555 GB/s or 80 GB HBM2e at 2,039 GB/s,
# BF16/FP16 tensor 312 TFLOPS dense (624 sparse), NVLink 600 GB/s total (300 per direction).
A100_40GB = GpuSpec("NVIDIA A100 40GB", 40.0, 1555.0, 312.0, None, 300.0, 40.0)
A100_80GB = GpuSpec("NVIDIA A100 80GB", 80.0, 2039.0, 312.0, None, 300.0, 80.0)

# NVIDIA H100 datasheet (SXM5, as in p5): 80 GB HBM3 at 3.35 TB/s, BF16 1,979 and FP8 3,958 TFLOPS with
# sparsity (989.5 / 1,979 dense), NVLink 900 GB/s total (450 per direction). 81559 MiB visible.
H100 = GpuSpec("NVIDIA H100", 80.0, 3350.0, 989.5, 1979.0, 450.0, 81559 / MIB_PER_GIB)

# NVIDIA H200 datasheet (SXM, as in p5en): 141 GB HBM3e at 4.8 TB/s, same tensor cores and NVLink as the
# H100 SXM. 143771 MiB visible (approximate, as commonly reported by nvidia-smi).
H200 = GpuSpec("NVIDIA H200", 141.0, 4800.0, 989.5, 1979.0, 450.0, 143771 / MIB_PER_GIB)

# NVIDIA V100 datasheet (SXM2, as in p3/p3dn): 16 or 32 GB HBM2 at 900 GB/s, 125 tensor TFLOPS (Volta has
# no sparsity mode), NVLink 300 GB/s total (150 per direction). Visible memory approximate.
V100_16GB = GpuSpec("NVIDIA V100 16GB", 16.0, 900.0, 125.0, None, 150.0, 16160 / MIB_PER_GIB)
V100_32GB = GpuSpec("NVIDIA V100 32GB", 32.0, 900.0, 125.0, None, 150.0, 32510 / MIB_PER_GIB)

# NVIDIA HGX B200 datasheet: 8 GPUs with 1.44 TB HBM3e (180 GB each) at 8 TB/s each; FP16/BF16 36 and FP8
# 72 PFLOPS per 8 GPUs with sparsity (2,250 / 4,500 dense TFLOPS per GPU); NVLink 1.8 TB/s total per GPU.
# Visible memory approximate.
B200 = GpuSpec("NVIDIA B200", 180.0, 8000.0, 2250.0, 4500.0, 900.0, 179.0)

_VARIANTS_BY_CATALOG_MODEL: dict[str, tuple[GpuSpec, ...]] = {
    "NVIDIA A10G": (A10G,),
    "NVIDIA L4": (L4,),
    "NVIDIA L40S": (L40S,),
    "NVIDIA T4 Tensor Core": (T4,),
    "NVIDIA T4G Tensor Core": (T4,),
    "NVIDIA A100": (A100_40GB, A100_80GB),
    "NVIDIA H100": (H100,),
    "NVIDIA H200": (H200,),
    "NVIDIA Tesla V100": (V100_16GB, V100_32GB),
    "NVIDIA B200": (B200,),
}
"""Catalog gpu_model -> variants, smallest memory first. Kepler/Maxwell parts (K80, M60, K520), which
current vLLM does not support, and non-NVIDIA accelerators are deliberately absent."""


def known_gpu_models() -> list[str]:
    """The catalog gpu_model strings this module has specs for."""
    return sorted(_VARIANTS_BY_CATALOG_MODEL)


def gpu_spec_for(gpu_model: str, memory_gib: float | None = None) -> GpuSpec:
    """The spec for a catalog `gpu_model`. Where one name covers several memory sizes (A100 40/80 GB,
    V100 16/32 GB), `memory_gib` picks the closest; without it the smallest is returned, the conservative
    choice for capacity planning."""
    variants = _VARIANTS_BY_CATALOG_MODEL.get(gpu_model)
    if variants is None:
        covered = ", ".join(known_gpu_models())
        raise KeyError(f"no GPU spec for gpu_model {gpu_model!r}; the capacity model covers {covered}")
    if memory_gib is None:
        return variants[0]
    return min(variants, key=lambda spec: abs(spec.hbm_gib - memory_gib))


def gpu_spec_for_instance(instance_type: InstanceType) -> GpuSpec:
    """The spec of one GPU of a catalog instance type, its memory size disambiguating variants."""
    return gpu_spec_for(instance_type.gpu_model, instance_type.gpu_memory_per_gpu_gib)


_SPECS_BY_SHORT_NAME: dict[str, GpuSpec] = {
    "A10G": A10G,
    "L4": L4,
    "L40S": L40S,
    "T4": T4,
    "A100": A100_80GB,
    "A100 40GB": A100_40GB,
    "A100 80GB": A100_80GB,
    "H100": H100,
    "H200": H200,
    "B200": B200,
    "V100": V100_16GB,
    "V100 16GB": V100_16GB,
    "V100 32GB": V100_32GB,
}
"""Names as nvidia-smi and the catalog spell them, without the vendor ("NVIDIA H100 80GB HBM3" reads as
H100; a bare "A100" is the 80 GB part the silicon reference measured)."""


def known_gpu_names() -> list[str]:
    return sorted(_SPECS_BY_SHORT_NAME)


def gpu_spec_named(name: str) -> GpuSpec:
    """The spec for a GPU name as a person or nvidia-smi writes it: "H100", "NVIDIA L40S", "A100 80GB",
    "NVIDIA H100 80GB HBM3"; KeyError when unknown."""
    words = name.upper().replace("NVIDIA", "").replace("-", " ").split()
    if not words:
        raise KeyError(name)
    for length in (2, 1):
        key = " ".join(words[:length])
        for short, spec in _SPECS_BY_SHORT_NAME.items():
            if short.upper() == key:
                return spec
    raise KeyError(name)
