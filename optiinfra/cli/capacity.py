"""`optiinfra capacity estimate`: one replica's latency and throughput from the best capacity source."""

import json
import math
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from optiinfra.cli.errors import BAD_INPUT, fail

if TYPE_CHECKING:
    from optiinfra.capacity.gpus import GpuSpec
    from optiinfra.capacity.models import ModelSpec
    from optiinfra.domain.capacity_profiles import CapacityProfile

capacity_app = typer.Typer(
    help="How much a model serves on a GPU, and from which source.", no_args_is_help=True
)


class SourceChoice(StrEnum):
    PROFILE = "profile"
    SILICON = "silicon"
    ROOFLINE = "roofline"


def _fail(message: str) -> typer.Exit:
    return fail(message, BAD_INPUT)


def _deployment(gpu: str, model: str) -> "tuple[GpuSpec, ModelSpec]":
    """The GPU as nvidia-smi names it and the model as Hugging Face does, or a one-line error."""
    from optiinfra.capacity.gpus import gpu_spec_named, known_gpu_names
    from optiinfra.capacity.models import capacity_model_for

    try:
        spec = gpu_spec_named(gpu)
    except KeyError:
        raise _fail(f"unknown GPU {gpu!r}; known: {', '.join(known_gpu_names())}") from None
    try:
        return spec, capacity_model_for(model)
    except KeyError as error:
        raise _fail(str(error.args[0])) from None


@capacity_app.command("estimate")
def estimate(
    gpu: Annotated[str, typer.Option(help='GPU as nvidia-smi names it: "H100", "L40S", "A100 80GB", "A10G"')],
    model: Annotated[str, typer.Option(help="Hugging Face id, e.g. meta-llama/Llama-3.1-8B-Instruct")],
    isl: Annotated[int, typer.Option(help="Prompt tokens per request", min=1)],
    osl: Annotated[int, typer.Option(help="Output tokens per request", min=1)],
    concurrency: Annotated[float, typer.Option(help="Requests kept in flight (closed loop)", min=1)] = 1,
    tp: Annotated[int, typer.Option(help="Tensor-parallel GPUs per replica", min=1, max=64)] = 1,
    source: Annotated[
        SourceChoice | None, typer.Option(help="Force a source; by default the best that covers it")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """TTFT and TPOT (mean and p95) and requests/s of one replica with CONCURRENCY requests in flight."""
    from optiinfra.capacity.estimate import CapacityEstimator, CapacitySource
    from optiinfra.capacity.roofline import ServingConfig, default_max_num_batched_tokens, memory_budget
    from optiinfra.capacity.shape import TokenShape

    spec, served = _deployment(gpu, model)
    config = ServingConfig(spec, tp, served, max_num_batched_tokens=default_max_num_batched_tokens(spec))
    budget = memory_budget(config)
    if not budget.fits:
        raise _fail(budget.reason or f"{model} does not fit on {tp}x {gpu}")
    if concurrency > config.max_num_seqs:
        config = replace(config, max_num_seqs=math.ceil(concurrency))
    chosen = CapacitySource(source.value) if source is not None else None
    point = CapacityEstimator().operating_point(
        config, TokenShape(float(isl), float(osl)), concurrency, chosen
    )
    if not point.served:
        raise _fail(
            f"one replica cannot serve {concurrency:g} requests of {isl}+{osl} tokens ({point.detail})"
        )
    answer = {
        "gpu": spec.name,
        "model": served.name,
        "tp": tp,
        "isl": isl,
        "osl": osl,
        "concurrency": concurrency,
        "ttft_ms": round(point.ttft_mean_s * 1000, 2),
        "ttft_p95_ms": round(point.ttft_p95_s * 1000, 2),
        "tpot_ms": round(point.tpot_mean_s * 1000, 3),
        "tpot_p95_ms": round(point.tpot_p95_s * 1000, 3),
        "requests_per_s": round(point.requests_per_s, 4),
        "source": point.source.value,
        "detail": point.detail,
    }
    if as_json:
        typer.echo(json.dumps(answer))
        return
    typer.echo(
        f"{served.name} on {tp}x {spec.name}, {isl}+{osl} tokens, {concurrency:g} in flight:\n"
        f"  TTFT   {answer['ttft_ms']:.1f} ms (p95 {answer['ttft_p95_ms']:.1f} ms)\n"
        f"  TPOT   {answer['tpot_ms']:.2f} ms (p95 {answer['tpot_p95_ms']:.2f} ms)\n"
        f"  {answer['requests_per_s']:.3f} requests/s\n"
        f"  source: {point.source.value} - {point.detail}"
    )


def profile_from_file(
    path: Path,
    *,
    customer_id: str,
    workload_id: str | None,
    gpu: str | None,
    model: str | None,
    tp: int | None,
    vllm_version: str | None,
) -> "CapacityProfile":
    """A result file of vllm bench serve, GuideLLM or inference-perf as a profile; what the file does not
    say (the GPU always, the model for inference-perf) comes from the options. Raises typer.Exit with a
    one-line error on anything it cannot use."""
    from optiinfra.capacity.profile_import import ProfileFormatError, read_profile_file
    from optiinfra.domain.capacity_profiles import CapacityProfile

    try:
        parsed = read_profile_file(path)
    except ProfileFormatError as error:
        raise _fail(str(error)) from None
    gpu_name = gpu or parsed.gpu
    model_id = model or parsed.model_id
    if gpu_name is None:
        raise _fail(f"{path} does not name its GPU: pass --gpu (e.g. H100, L40S, A10G)")
    if model_id is None:
        raise _fail(f"{path} does not name its model: pass --model (a Hugging Face id)")
    spec, served = _deployment(gpu_name, model_id)
    try:
        return CapacityProfile(
            customer_id=customer_id,
            workload_id=workload_id,
            gpu=spec.name,
            model=served.name,
            tp=tp or parsed.tp or 1,
            vllm_version=vllm_version,
            tool=parsed.tool,
            source_file=path.name,
            points=parsed.points,
        )
    except ValueError as error:
        raise _fail(f"{path}: {str(error).splitlines()[0]}") from None
