"""`optiinfra schedule create|list|show|pause|unpause|delete`: fleet-scan schedules, through the API."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from optiinfra.cli.output import AsJson, print_json, print_table
from optiinfra.cli.remote import call_api
from optiinfra.domain.enums import AgentKind

if TYPE_CHECKING:
    from optiinfra.control.schedule_spec import ScanScheduleView

schedule_app = typer.Typer(
    help="Fleet-scan schedules: a joint optimization of every workload at cron times.", no_args_is_help=True
)

ScheduleId = Annotated[str, typer.Argument(help="The schedule's id (see `schedule list`)")]
Owner = Annotated[
    str | None, typer.Option("--customer", help="The customer whose schedule it is (none: a fleet-wide one)")
]
Note = Annotated[str, typer.Option(help="Why (shown with the schedule)")]
LIST_COLUMNS = ("ID", "STATE", "CRON", "TIMEZONE", "SCOPE", "AGENTS", "NEXT", "NOTE")


def _row(view: "ScanScheduleView") -> tuple[str, ...]:
    upcoming = view.next_action_times[0].isoformat() if view.next_action_times and not view.paused else "-"
    return (
        view.schedule_id,
        "paused" if view.paused else "active",
        " | ".join(view.cron),
        view.timezone,
        view.customer_id or "all customers",
        ",".join(agent.value for agent in view.agents),
        upcoming,
        view.note or "-",
    )


def _echo(view: "ScanScheduleView") -> None:
    """One schedule as one line of `name value` pairs."""
    typer.echo(
        "  ".join(f"{name.lower()} {value}" for name, value in zip(LIST_COLUMNS, _row(view), strict=True))
    )


@schedule_app.command("create")
def create(
    schedule_id: Annotated[str, typer.Argument(help="e.g. nightly (lowercase letters, digits, dashes)")],
    cron: Annotated[
        list[str],
        typer.Option(help="Cron expression, e.g. '0 2 * * *' (repeatable); 7 fields put seconds first"),
    ],
    timezone: Annotated[str, typer.Option(help="IANA time zone the cron times are read in")] = "UTC",
    customer: Annotated[str | None, typer.Option(help="Scan only this customer's workloads")] = None,
    agent: Annotated[
        list[AgentKind] | None, typer.Option(help="Agent to run (repeatable; default: all)")
    ] = None,
    note: Annotated[str, typer.Option(help="A note kept with the schedule")] = "",
) -> None:
    """Create a fleet-scan schedule."""
    body: dict[str, Any] = {"schedule_id": schedule_id, "cron": cron, "timezone": timezone, "note": note}
    if customer:
        body["customer_id"] = customer
    if agent:
        body["agents"] = [kind.value for kind in agent]
    _echo(call_api(lambda client: client.create_schedule(body)))


@schedule_app.command("list")
def list_schedules(as_json: AsJson = False) -> None:
    """The fleet-scan schedules."""
    found = call_api(lambda client: client.list_schedules())
    if as_json:
        print_json(found)
        return
    print_table(LIST_COLUMNS, [_row(view) for view in found], empty="no schedules")


@schedule_app.command("show")
def show(schedule_id: ScheduleId, customer: Owner = None) -> None:
    """One schedule, with the scans it started lately."""
    view = call_api(lambda client: client.get_schedule(schedule_id, customer))
    _echo(view)
    if view.pause_note:
        typer.echo(f"  {view.pause_note}")
    for scan in view.recent_runs:
        typer.echo(f"  scan of {scan.scheduled_at.isoformat()}: {scan.workflow_id}")


def _set_paused(schedule_id: str, paused: bool, note: str, customer: str | None) -> None:
    _echo(call_api(lambda client: client.set_schedule_paused(schedule_id, paused, note, customer)))


@schedule_app.command("pause")
def pause(schedule_id: ScheduleId, note: Note = "", customer: Owner = None) -> None:
    """Start no more scans until unpaused."""
    _set_paused(schedule_id, True, note, customer)


@schedule_app.command("unpause")
def unpause(schedule_id: ScheduleId, note: Note = "", customer: Owner = None) -> None:
    """Start scans at the cron times again."""
    _set_paused(schedule_id, False, note, customer)


@schedule_app.command("delete")
def delete(schedule_id: ScheduleId, customer: Owner = None) -> None:
    """Remove a schedule; scans it already started go on."""
    call_api(lambda client: client.delete_schedule(schedule_id, customer))
    typer.echo(f"deleted schedule {schedule_id}")
