"""Fits each covered GPU's achieved fractions (`efficiency.StepEfficiency`) to NVIDIA's silicon tables.

The roofline's step times rest on datasheet peaks times achieved fractions. Those fractions differ by
GPU (the silicon reference shows an A100 streaming weights at about two thirds of its datasheet
bandwidth where an H100 reaches nearer 80%, and an L40S box's PCIe all-reduce far below the link rate,
slower still across sockets), so for every GPU the shipped tables cover, this command searches the
fractions and host overheads that bring the roofline's closed-loop means (TTFT, TPOT, requests/s) closest
to the tables at the tables' own grid points, and writes them with their provenance:

    python -m optiinfra.capacity.calibrate [--out PATH]

Only the fractions are fitted; the model's structure (the steps, chunked prefill, the closed loop) is the
roofline's own. `optiinfra bench capacity` then measures the result off the grid points it was fitted on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from scipy.optimize import minimize

from optiinfra.capacity.closed_loop import closed_loop_point
from optiinfra.capacity.efficiency import (
    CALIBRATION_PATH,
    DATASHEET_EFFICIENCY,
    Calibration,
    StepEfficiency,
)
from optiinfra.capacity.gpus import A100_80GB, B200, H100, H200, L40S, GpuSpec
from optiinfra.capacity.models import LLAMA_3_1_8B, LLAMA_3_1_70B, ModelSpec
from optiinfra.capacity.roofline import ServingConfig, default_max_num_batched_tokens
from optiinfra.capacity.silicon import SiliconKey, SiliconReference, default_silicon_reference

COVERED_GPUS: tuple[GpuSpec, ...] = (H100, H200, L40S, A100_80GB, B200)
FIT_DEPLOYMENTS: tuple[tuple[ModelSpec, tuple[int, ...]], ...] = (
    (LLAMA_3_1_8B, (1,)),
    (LLAMA_3_1_70B, (4, 8)),
)
FIT_ISLS = (512, 1024, 2048, 4096, 8192)
FIT_OSLS = (128, 256)
FIT_BATCHES = (1, 2, 4, 8, 16, 32)
"""The tables' own grid points the fit reads (the bench measures between them: 1000/3000 tokens,
200-token outputs, concurrency 3, 12 and 24)."""

SEARCH: dict[str, tuple[float, float]] = {
    "bandwidth": (0.4, 1.0),
    "matmul": (0.3, 1.0),
    "interconnect": (0.01, 1.0),
    "cross_domain_interconnect": (0.01, 1.0),
    "step_overhead_s": (0.0, 0.005),
    "request_overhead_s": (0.0, 0.05),
    "admission_per_layer_s": (0.0, 0.002),
}
"""The range each fraction is searched in."""


@dataclass(frozen=True)
class FitPoint:
    config: ServingConfig
    isl: int
    osl: int
    batch: int
    reference: tuple[float, float, float]  # TTFT s, TPOT s, requests/s


def fit_points(gpu: GpuSpec, reference: SiliconReference) -> list[FitPoint]:
    points: list[FitPoint] = []
    for model, degrees in FIT_DEPLOYMENTS:
        for tp in degrees:
            table = reference.table(SiliconKey(gpu.name, model.name, tp))
            if table is None:
                continue
            config = ServingConfig(gpu, tp, model, max_num_batched_tokens=default_max_num_batched_tokens(gpu))
            for isl in FIT_ISLS:
                for osl in FIT_OSLS:
                    for batch in FIT_BATCHES:
                        found = table.at(isl, osl, batch)
                        if found is None or not found.fits:
                            continue
                        points.append(
                            FitPoint(
                                config,
                                isl,
                                osl,
                                batch,
                                (found.ttft_ms / 1000, found.tpot_ms / 1000, found.requests_per_s),
                            )
                        )
    return points


def log_errors(points: Iterable[FitPoint], efficiency: StepEfficiency) -> list[float]:
    """|log(prior / reference)| of TTFT, TPOT and requests/s at every point; a point the prior cannot
    serve counts as a large error."""
    errors: list[float] = []
    for point in points:
        gpu = replace(point.config.gpu, efficiency=efficiency)
        found = closed_loop_point(
            replace(point.config, gpu=gpu), float(point.isl), float(point.osl), float(point.batch)
        )
        if not found.served:
            errors.extend((5.0, 5.0, 5.0))
            continue
        prior = (found.ttft_mean_s, found.itl_mean_s, found.requests_per_s)
        errors.extend(abs(math.log(p / r)) for p, r in zip(prior, point.reference, strict=True))
    return errors


def objective(points: list[FitPoint], efficiency: StepEfficiency) -> float:
    """The mean error, with the worst weighing in so one regime cannot be given up for the rest."""
    errors = log_errors(points, efficiency)
    return statistics.fmean(errors) + 0.25 * max(errors)


def fit(points: list[FitPoint], start: StepEfficiency = DATASHEET_EFFICIENCY) -> StepEfficiency:
    """Nelder-Mead over the fractions and overheads (`SEARCH`) within their ranges, from three starts (the
    datasheet's, the ranges' middles and their lower quarters); the best of the three. The cross-socket
    fraction is searched only for PCIe cards whose points include a group spanning sockets; otherwise it
    keeps its start."""
    spans_sockets = any(
        (domain := p.config.gpu.gpus_per_pcie_domain) is not None and p.config.tensor_parallel > domain
        for p in points
    )
    search = {
        name: bounds
        for name, bounds in SEARCH.items()
        if name != "cross_domain_interconnect" or spans_sockets
    }
    names = list(search)
    scale = {name: (1000.0 if name.endswith("_s") else 1.0) for name in names}  # overheads in ms

    def efficiency(x: Sequence[float]) -> StepEfficiency:
        values = {name: float(value) / scale[name] for name, value in zip(names, x, strict=True)}
        return replace(start, **values)

    bounds = [(low * scale[name], high * scale[name]) for name, (low, high) in search.items()]
    starts = [
        [getattr(start, name) * scale[name] for name in names],
        [(low + high) / 2 * scale[name] for name, (low, high) in search.items()],
        [(low + (high - low) / 4) * scale[name] for name, (low, high) in search.items()],
    ]
    results = [
        minimize(
            lambda x: objective(points, efficiency(x)),
            initial,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-4, "fatol": 1e-5, "maxiter": 3000},
        )
        for initial in starts
    ]
    found = min(results, key=lambda result: float(result.fun))
    return efficiency(found.x)


def build(reference: SiliconReference | None = None) -> Calibration:
    reference = reference or default_silicon_reference()
    fitted: dict[str, StepEfficiency] = {}
    summary: dict[str, dict[str, float | str]] = {}
    for gpu in COVERED_GPUS:
        points = fit_points(gpu, reference)
        if not points:
            continue
        found = fit(points)
        # Fractions to four places, seconds to the microsecond.
        fitted[gpu.name] = StepEfficiency(
            **{name: round(value, 6 if name.endswith("_s") else 4) for name, value in asdict(found).items()}
        )
        errors = log_errors(points, fitted[gpu.name])
        table = reference.table(SiliconKey(gpu.name, LLAMA_3_1_8B.name, 1))
        summary[gpu.name] = {
            "tables": table.provenance.describe() if table is not None else "",
            "points": len(points),
            "median_abs_log_error": round(statistics.median(errors), 4),
            "worst_abs_log_error": round(max(errors), 4),
        }
        print(f"{gpu.name}: {fitted[gpu.name]} over {len(points)} points", file=sys.stderr)
    provenance = {
        "fitted_to": "the shipped silicon tables (data/silicon_vllm.json)",
        "grid": {"isl": FIT_ISLS, "osl": FIT_OSLS, "concurrency": FIT_BATCHES},
        "deployments": [f"{m.name} TP{','.join(map(str, tps))}" for m, tps in FIT_DEPLOYMENTS],
        "fitted": dt.date.today().isoformat(),
        "fit": summary,
    }
    return Calibration(fitted, provenance)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m optiinfra.capacity.calibrate",
        description="Fit each covered GPU's achieved fractions to the silicon tables.",
    )
    parser.add_argument("--out", type=Path, default=CALIBRATION_PATH, help="where to write the calibration")
    args = parser.parse_args(argv)
    calibration = build()
    args.out.write_text(json.dumps(calibration.to_document(), indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
