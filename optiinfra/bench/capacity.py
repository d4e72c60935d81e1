"""`optiinfra bench capacity`: the capacity layer against NVIDIA's silicon-measured reference.

Three answers are measured over a grid of GPUs x models x request shapes x concurrency: the roofline prior
(`--source roofline`: closed-loop means at the GPU's calibrated fractions, `capacity.calibrate`), the same
prior at the datasheet fractions (what a GPU without a calibration gets, so the calibration's gain is in
view), and the served answer (the best source, which for these GPUs is the shipped silicon tables,
interpolated). The truth is aiconfigurator itself, run live when `aiconfigurator-core` is installed
(the dev dependency group); without it the bench says so and compares against the tables' own grid points,
which only checks the prior. The grid deliberately falls between the tables' grid points (isl 1000 and
3000, osl 200, concurrency 3, 12 and 24) so interpolation is measured too. Published vLLM figures cover the
GPUs the reference does not (A10G, L4).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Protocol

from optiinfra.capacity.compare import compare_with_published
from optiinfra.capacity.efficiency import DATASHEET_EFFICIENCY
from optiinfra.capacity.estimate import CapacityEstimator, CapacitySource, OperatingPoint, silicon_key
from optiinfra.capacity.gpus import A100_80GB, H100, L40S, GpuSpec
from optiinfra.capacity.models import LLAMA_3_1_8B, LLAMA_3_1_70B, ModelSpec
from optiinfra.capacity.roofline import ServingConfig, default_max_num_batched_tokens
from optiinfra.capacity.shape import TokenShape
from optiinfra.capacity.silicon import SiliconKey, default_silicon_reference

GPUS: tuple[GpuSpec, ...] = (H100, L40S, A100_80GB)
DEPLOYMENTS: tuple[tuple[ModelSpec, int], ...] = ((LLAMA_3_1_8B, 1), (LLAMA_3_1_70B, 4))
PROMPTS = (512, 1000, 2000, 3000, 8000)
OUTPUTS = (128, 200)
CONCURRENCY = (1, 3, 8, 12, 24, 32)
METRICS = ("ttft", "tpot", "throughput")
ANSWERS: dict[str, str] = {
    "prior": "roofline prior",
    "datasheet": "prior, datasheet fractions",
    "served": "served (best source)",
}
"""What is measured: the roofline with the GPU's calibrated fractions (what `--source roofline` answers),
the same roofline at the datasheet fractions (what a GPU the reference does not cover gets), and the
served answer."""


class Reference(Protocol):
    def estimate(self, isl: int, osl: int, batch: int) -> tuple[float, float, float, bool]: ...


@dataclass(frozen=True)
class GridPoint:
    gpu: str
    model: str
    tp: int
    isl: int
    osl: int
    concurrency: int
    reference: tuple[float, float, float]
    prior: tuple[float, float, float]
    datasheet: tuple[float, float, float]
    served: tuple[float, float, float]
    served_source: str


@dataclass(frozen=True)
class ErrorSummary:
    gpu: str
    answer: str
    metric: str
    median_abs_error_pct: float
    worst_abs_error_pct: float
    points: int


def _figures(point: OperatingPoint) -> tuple[float, float, float]:
    return point.ttft_mean_s * 1000, point.tpot_mean_s * 1000, point.requests_per_s


def _reference_for(key: SiliconKey, live: bool) -> Reference | None:
    if live:
        from optiinfra.capacity.silicon_build import live_estimator

        return live_estimator(key)
    table = default_silicon_reference().table(key)
    if table is None:
        return None

    class TableReference:
        def estimate(self, isl: int, osl: int, batch: int) -> tuple[float, float, float, bool]:
            found = table.at(isl, osl, batch) if table is not None else None
            if found is None:
                raise KeyError((isl, osl, batch))
            return found.ttft_ms, found.tpot_ms, found.requests_per_s, found.fits

    return TableReference()


def measure(live: bool) -> list[GridPoint]:
    estimator = CapacityEstimator()
    points: list[GridPoint] = []
    for gpu in GPUS:
        for model, tp in DEPLOYMENTS:
            config = ServingConfig(gpu, tp, model, max_num_batched_tokens=default_max_num_batched_tokens(gpu))
            uncalibrated = replace(config, gpu=replace(gpu, efficiency=DATASHEET_EFFICIENCY))
            reference = _reference_for(silicon_key(config), live)
            if reference is None:
                continue
            for isl in PROMPTS:
                for osl in OUTPUTS:
                    shape = TokenShape(float(isl), float(osl))
                    for concurrency in CONCURRENCY:
                        ttft, tpot, rps, fits = reference.estimate(isl, osl, concurrency)
                        if not fits:
                            continue
                        prior = estimator.operating_point(config, shape, concurrency, CapacitySource.ROOFLINE)
                        datasheet = estimator.operating_point(
                            uncalibrated, shape, concurrency, CapacitySource.ROOFLINE
                        )
                        served = estimator.operating_point(config, shape, concurrency)
                        if not (prior.served and served.served and datasheet.served):
                            continue
                        points.append(
                            GridPoint(
                                gpu.name,
                                model.name,
                                tp,
                                isl,
                                osl,
                                concurrency,
                                (ttft, tpot, rps),
                                _figures(prior),
                                _figures(datasheet),
                                _figures(served),
                                served.source.value,
                            )
                        )
    return points


def summarize(points: list[GridPoint]) -> list[ErrorSummary]:
    rows: list[ErrorSummary] = []
    for gpu in sorted({p.gpu for p in points}):
        mine = [p for p in points if p.gpu == gpu]
        for answer in ANSWERS:
            for index, metric in enumerate(METRICS):
                errors = [
                    abs(getattr(p, answer)[index] - p.reference[index]) / p.reference[index] * 100
                    for p in mine
                ]
                rows.append(
                    ErrorSummary(gpu, answer, metric, statistics.median(errors), max(errors), len(errors))
                )
    return rows


def render(rows: list[ErrorSummary], live: bool) -> str:
    truth = (
        "aiconfigurator-core run live"
        if live
        else "the shipped silicon tables (aiconfigurator-core is not installed: only the prior is checked)"
    )
    lines = [
        f"Capacity against NVIDIA's silicon-measured reference ({truth})",
        "Grid: Llama-3.1-8B TP1 and Llama-3.1-70B TP4; prompts 512-8000; outputs 128, 200; concurrency 1-32",
        "The prior's fractions were fitted to the tables' grid points (isl 512-8192, osl 128/256, concurrency"
        " 1-32); the grid above falls between them.",
        "",
        f"{'GPU':<18} {'answer':<26} {'metric':<11} {'median |err|':>12} {'worst |err|':>12} {'points':>7}",
    ]
    for row in rows:
        answer = ANSWERS[row.answer]
        lines.append(
            f"{row.gpu:<18} {answer:<26} {row.metric:<11} {row.median_abs_error_pct:>11.1f}% "
            f"{row.worst_abs_error_pct:>11.1f}% {row.points:>7}"
        )
    return "\n".join(lines)


def _live_available() -> bool:
    try:
        import aiconfigurator_core  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="optiinfra bench capacity",
        description="Measure the capacity layer's error against NVIDIA's silicon-measured reference.",
    )
    parser.add_argument("--json", type=Path, help="also write every grid point and the summary here")
    parser.add_argument(
        "--tables-only",
        action="store_true",
        help="compare against the shipped tables even when aiconfigurator-core is installed",
    )
    args = parser.parse_args(argv)
    live = _live_available() and not args.tables_only
    if live:
        import logging

        logging.disable(logging.WARNING)
    points = measure(live)
    rows = summarize(points)
    print(render(rows, live))
    print("\nPublished vLLM figures (GPUs the reference does not cover):")
    for row in compare_with_published():
        print(f"  {row.gpu:<18} {row.model:<14} {row.metric:<28} gap {row.gap_percent:+.0f}%")
    if args.json:
        document = {
            "truth": "live" if live else "tables",
            "summary": [asdict(r) for r in rows],
            "points": [asdict(p) for p in points],
            "published": [asdict(r) for r in compare_with_published()],
        }
        args.json.write_text(json.dumps(document, indent=1) + "\n")
        print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
