"""`optiinfra analyze`: the agents' analyses run on files, without the stack."""

import json
from pathlib import Path
from typing import Annotated

import typer

from optiinfra.cli.choices import LogFormatChoice
from optiinfra.cli.errors import fail

analyze_app = typer.Typer(help="Analyses of a workload's own logs, run locally.", no_args_is_help=True)


@analyze_app.command("application")
def application(
    log: Annotated[Path, typer.Option(help="The request log: the Azure trace's CSV or a tier-1 CSV/JSONL")],
    log_format: Annotated[
        LogFormatChoice,
        typer.Option("--format", help="auto: JSON lines are tier1, a TIMESTAMP header is azure"),
    ] = LogFormatChoice.AUTO,
    model: Annotated[
        str, typer.Option(help="The model the requests go to now (price table name)")
    ] = "gpt-4o",
    cheap_model: Annotated[
        str | None, typer.Option(help="The model to route to; default: the table's cheaper model")
    ] = None,
    request_type: Annotated[
        str | None,
        typer.Option(help="Request type of an Azure trace's requests; default: from the file name"),
    ] = None,
    buffer: Annotated[float, typer.Option(min=0.0, help="Context headroom over the p95")] = 0.1,
    max_generated: Annotated[
        int, typer.Option(min=0, help="Routing: longest output the cheaper model takes")
    ] = 64,
    max_long_share: Annotated[
        float,
        typer.Option(
            help="Routing's quality bound: most share of a route's requests with a long answer (95%)"
        ),
    ] = 0.05,
    max_worse_share: Annotated[
        float,
        typer.Option(help="Quality sample's bound: most share of worse cheaper answers in a route (95%)"),
    ] = 0.05,
    quality: Annotated[
        Path | None,
        typer.Option(
            help="Routing quality sample, JSON lines of at, request_type, context_tokens, cheap_model, "
            "verdict (no_worse or worse): confirmed routes' savings count"
        ),
    ] = None,
    window: Annotated[
        int | None, typer.Option(min=1, help="The current window (--max-model-len); default: the model's")
    ] = None,
    price_table: Annotated[
        Path | None, typer.Option(help="Price table JSON; default: OPTIINFRA_MODEL_PRICE_TABLE, else bundled")
    ] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write every figure here")] = None,
) -> None:
    """Routing share, context right-sizing and prompt efficiency of a request log, with what they save."""
    from agents.application.profile import profile_requests
    from agents.application.routing import RoutingRule
    from optiinfra.application.model_prices import ModelPriceTable, PriceTableError, UnknownModelError
    from optiinfra.application.report import build_report, render, report_json
    from optiinfra.application.request_log import (
        LogFormat,
        RequestLogError,
        detect_format,
        read_quality_sample,
        read_request_log,
    )
    from optiinfra.settings import Settings

    try:
        prices = (
            ModelPriceTable.load(price_table)
            if price_table is not None
            else ModelPriceTable.configured(Settings())
        )
        prices.get(model)
        if not log.is_file():
            raise RequestLogError(f"no request log at {log}")
        requested = LogFormat(log_format.value)
        chosen = detect_format(log) if requested is LogFormat.AUTO else requested
        records = read_request_log(log, log_format=chosen, model=model, request_type=request_type)
        sample = read_quality_sample(quality) if quality is not None else []
        profile = profile_requests(records, quality=sample)
        report = build_report(
            profile,
            prices,
            model=model,
            cheap_model=cheap_model,
            buffer=buffer,
            rule=RoutingRule(
                max_generated_tokens=max_generated,
                max_long_share=max_long_share,
                max_worse_share=max_worse_share,
            ),
            current_window=window,
            source=str(log),
            log_format=chosen.value,
        )
    except (RequestLogError, PriceTableError, UnknownModelError, ValueError, OSError) as error:
        raise fail(error) from error
    typer.echo(render(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report_json(report), indent=2) + "\n")
        typer.echo(f"\nfigures written to {json_path}")
