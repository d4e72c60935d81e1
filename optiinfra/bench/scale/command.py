"""`optiinfra bench scale`: options, progress on stderr, the figures as a table and as JSON."""

import asyncio
from pathlib import Path
from typing import Annotated, Literal

import typer

from optiinfra.cli.bench_options import Quiet, bench_progress


def scale(
    workloads: Annotated[int, typer.Option("--workloads", min=1, help="Workloads in the synthetic fleet")],
    analysis: Annotated[
        str,
        typer.Option(
            "--analysis",
            help="stub: constant-time stand-ins for the analyzers (orchestration at fleet scale); "
            "real: the real analyzers on copies of the demo fleet (analysis cost per agent)",
        ),
    ] = "stub",
    workers: Annotated[
        str,
        typer.Option(
            "--workers",
            help="Worker processes of each kind of work (orchestration, cloud, analysis, llm, metrics), one "
            "run per comma-separated value, e.g. 1,2",
        ),
    ] = "1,2",
    per_customer: Annotated[
        int, typer.Option("--per-customer", min=1, help="Workloads per customer of the synthetic fleet")
    ] = 50,
    timeout_s: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds a run may take from the scan's start")
    ] = 7200.0,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the report (options and every run) to this file")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """A fleet scan of N workloads on the embedded engine, with the workers in processes of their own:
    optimizations per minute, CPU per optimization (orchestration, analysis by agent), history bytes per
    optimization (p95) and the scan's wall time, with 1 and 2 processes of each kind of work, and the
    worker processes per 1,000 workloads that implies."""
    from pydantic import ValidationError

    from optiinfra.bench.scale.report import render
    from optiinfra.bench.scale.run import ScaleOptions, run_scale

    if analysis not in ("stub", "real"):
        raise typer.BadParameter("choose stub or real", param_hint="--analysis")
    try:
        counts = [int(part) for part in workers.split(",") if part.strip()]
        mode: Literal["stub", "real"] = "stub" if analysis == "stub" else "real"
        options = ScaleOptions(
            workloads=workloads,
            analysis=mode,
            worker_processes=counts,
            per_customer=per_customer,
            timeout_s=timeout_s,
        )
    except (ValueError, ValidationError) as error:
        raise typer.BadParameter(
            "a comma-separated list of positive counts, e.g. 1,2", param_hint="--workers"
        ) from error
    if any(count < 1 for count in counts):
        raise typer.BadParameter("counts must be at least 1", param_hint="--workers")

    with bench_progress(quiet=quiet) as on_stage:
        report = asyncio.run(run_scale(options, on_stage))
    print(render(report))
    if json_path is not None:
        json_path.write_text(report.model_dump_json(indent=2) + "\n")
