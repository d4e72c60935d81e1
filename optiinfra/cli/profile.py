"""`optiinfra profile import`: measured capacity profiles of a customer's own servers, stored via the API."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from optiinfra.cli.remote import call_api

if TYPE_CHECKING:
    from optiinfra.cli.api_client import ApiClient
    from optiinfra.domain.capacity_profiles import CapacityProfile

profile_app = typer.Typer(help="Measured capacity profiles of your own servers.", no_args_is_help=True)

ProfileFiles = Annotated[
    list[Path], typer.Argument(help="Result files of vllm bench serve, GuideLLM or inference-perf")
]
ProfileWorkload = Annotated[
    str | None, typer.Option(help="Only this workload (default: all on the GPU x model)")
]
ProfileGpu = Annotated[
    str | None, typer.Option(help='GPU it ran on ("H100", "L40S", ...) if the file does not say')
]
ProfilePrintOnly = Annotated[bool, typer.Option("--print", help="Print the profile as JSON; store nothing")]


@profile_app.command("import")
def profile_import(
    files: ProfileFiles,
    customer: Annotated[str, typer.Option(help="The customer the profile belongs to")] = "demo",
    workload: ProfileWorkload = None,
    gpu: ProfileGpu = None,
    model: Annotated[str | None, typer.Option(help="Hugging Face id if the file does not say")] = None,
    tp: Annotated[int | None, typer.Option(help="Tensor-parallel GPUs per replica", min=1, max=64)] = None,
    vllm_version: Annotated[str | None, typer.Option(help="vLLM version the servers ran")] = None,
    print_only: ProfilePrintOnly = False,
) -> None:
    """Store measured TTFT, TPOT and throughput against concurrency.

    Where a profile covers a deployment and request shape, capacity answers come from it before NVIDIA's
    silicon reference and the roofline."""
    from optiinfra.cli.capacity import profile_from_file

    profiles = [
        profile_from_file(
            path,
            customer_id=customer,
            workload_id=workload,
            gpu=gpu,
            model=model,
            tp=tp,
            vllm_version=vllm_version,
        )
        for path in files
    ]
    if print_only:
        for profile in profiles:
            typer.echo(profile.model_dump_json())
        return
    call_api(lambda client: _store(client, profiles))


async def _store(client: "ApiClient", profiles: "list[CapacityProfile]") -> None:
    for profile in profiles:
        profile_id = await client.import_capacity_profile(profile)
        low, high = profile.concurrency_range
        typer.echo(
            f"stored {profile.source_file} as profile {profile_id}: {profile.model} on "
            f"{profile.tp}x {profile.gpu}, {len(profile.points)} point(s), "
            f"concurrency {low:g}-{high:g}"
        )
