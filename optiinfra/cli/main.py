"""`optiinfra`: the one command line. Each group lives in its own module and imports what it needs when it
runs, so `optiinfra --help` loads typer and these modules only."""

import typer

from optiinfra.cli import stack
from optiinfra.cli.analyze import analyze_app
from optiinfra.cli.bench import bench_app
from optiinfra.cli.capacity import capacity_app
from optiinfra.cli.catalog import catalog_app
from optiinfra.cli.errors import OneLineErrorGroup
from optiinfra.cli.keys import keys_app
from optiinfra.cli.profile import profile_app
from optiinfra.cli.recommendations import recommendations_app
from optiinfra.cli.schedules import schedule_app
from optiinfra.cli.workloads import optimize, workloads_app

app = typer.Typer(
    cls=OneLineErrorGroup,
    help="OptiInfra: cheaper LLM inference fleets, without breaking their SLOs.",
    no_args_is_help=True,
    rich_markup_mode="markdown",  # single line breaks in help texts are joined, `code` is shown as code
)

app.command("up")(stack.up)
app.command("run")(stack.run)
app.command("optimize")(optimize)
app.command("worker")(stack.worker)
app.command("api")(stack.api)
app.command("setup-temporal")(stack.setup_temporal)
app.command("migrate")(stack.migrate)

app.add_typer(workloads_app, name="workloads")
app.add_typer(recommendations_app, name="recommendations")
app.add_typer(schedule_app, name="schedule")
app.add_typer(keys_app, name="keys")
app.add_typer(analyze_app, name="analyze")
app.add_typer(capacity_app, name="capacity")
app.add_typer(profile_app, name="profile")
app.add_typer(catalog_app, name="catalog")
app.add_typer(bench_app, name="bench")

__all__ = ["app", "bench_app"]

if __name__ == "__main__":
    app(prog_name="optiinfra")
