"""`optiinfra catalog list|build|refresh`: the bundled GPU price catalog."""

from pathlib import Path
from typing import Annotated

import typer

from optiinfra.cli.errors import BAD_INPUT, fail
from optiinfra.cli.output import AsJson, print_json, print_table

catalog_app = typer.Typer(help="The bundled GPU price catalog.", no_args_is_help=True)

Regions = Annotated[
    list[str] | None, typer.Option("--region", help="Region (repeatable; default: the six the catalog ships)")
]
Output = Annotated[Path | None, typer.Option(help="Where to write (default: the bundled file)")]
LIST_COLUMNS = ("TYPE", "GPUS", "GPU MEMORY", "VCPU", "MEMORY", "ON-DEMAND/H", "SPOT/H", "INTERRUPTIONS")
INTERRUPTION_BANDS = ("<5%", "5-10%", "10-15%", "15-20%", ">20%")


@catalog_app.command("list")
def list_types(
    region: Annotated[str, typer.Option(help="The region whose prices to show")] = "us-east-1",
    gpu: Annotated[
        str | None,
        typer.Option(help='Only this GPU model, e.g. "L40S" or "nvidia a100" (whole words, any case)'),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """The instance types priced in a region, cheapest on-demand first."""
    from optiinfra.catalog.loader import PriceCatalog

    catalog = PriceCatalog.load_default()
    if region not in catalog.regions():
        raise fail(
            f"region {region} is not in the catalog; it covers {', '.join(catalog.regions())}", BAD_INPUT
        )
    found = sorted(
        (kind for kind in catalog.types_in(region) if gpu is None or gpu_matches(gpu, kind.gpu_model)),
        key=lambda kind: (kind.on_demand_hourly_usd, kind.name),
    )
    if as_json:
        print_json(found)
        return
    rows = [
        (
            kind.name,
            f"{kind.gpu_count}x {kind.gpu_model}",
            f"{kind.gpu_memory_gib:g} GiB",
            kind.vcpu,
            f"{kind.memory_gib:g} GiB",
            f"${kind.on_demand_hourly_usd:.3f}",
            None if kind.spot_hourly_usd is None else f"${kind.spot_hourly_usd:.3f}",
            None
            if kind.spot_interruption_bucket is None
            else INTERRUPTION_BANDS[kind.spot_interruption_bucket],
        )
        for kind in found
    ]
    print_table(LIST_COLUMNS, rows, empty=f"no instance types{f' with {gpu}' if gpu else ''} in {region}")


def gpu_matches(wanted: str, model: str) -> bool:
    """Whether `wanted`'s words appear together in the catalog's GPU model name: "l4" is "NVIDIA L4" and not
    "NVIDIA L40S"; "t4" is "NVIDIA T4 Tensor Core"."""
    words, found = wanted.lower().split(), model.lower().split()
    return bool(words) and any(found[start : start + len(words)] == words for start in range(len(found)))


@catalog_app.command("build")
def build(
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Folder with ec2_pricing/ and aws_spot_advisor/ (default: OPTIINFRA_DATA_DIR)"),
    ] = None,
    region: Regions = None,
    output: Output = None,
) -> None:
    """Rebuild the catalog from the price snapshot and the Spot Advisor feed."""
    from optiinfra.catalog.build import BUNDLED_CATALOG_PATH, DEFAULT_REGIONS, build_catalog, write_catalog
    from optiinfra.settings import get_settings

    target = output or BUNDLED_CATALOG_PATH
    try:
        catalog = build_catalog(data_dir or get_settings().data_dir, tuple(region or DEFAULT_REGIONS))
        write_catalog(catalog, target)
    except (OSError, ValueError, KeyError) as error:
        raise fail(f"cannot build the catalog: {error}", BAD_INPUT) from error
    typer.echo(f"wrote {len(catalog['instance_types'])} instance types to {target}")


@catalog_app.command("refresh")
def refresh(
    region: Regions = None,
    output: Output = None,
    profile: Annotated[
        str | None, typer.Option(help="AWS profile (default: boto3's credential chain)")
    ] = None,
) -> None:
    """Rebuild prices from the live AWS APIs (needs AWS credentials).

    Prices from the Price List API and spot price history; interruption buckets stay those of the Spot
    Advisor feed."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from optiinfra.catalog.build import BUNDLED_CATALOG_PATH, DEFAULT_REGIONS, write_catalog
    from optiinfra.catalog.refresh import refresh_from_aws

    target = output or BUNDLED_CATALOG_PATH
    try:
        session = boto3.session.Session(profile_name=profile)
        catalog = refresh_from_aws(None, tuple(region or DEFAULT_REGIONS), session)
        write_catalog(catalog, target)
    except (BotoCoreError, ClientError, OSError, ValueError) as error:
        raise fail(f"cannot refresh the catalog: {error}") from error
    counts = catalog["source"]["aws_refresh"]["counts"]
    typer.echo(
        f"refreshed prices of {counts['prices_refreshed']} and spot of {counts['spot_refreshed']} of "
        f"{counts['region_entries']} region entries; wrote {target}"
    )
