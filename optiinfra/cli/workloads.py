"""`optiinfra workloads list` and `optiinfra optimize WORKLOAD`: the workloads the API knows, and starting
an optimization of one of them (follow it with `recommendations list --workload`, or in the Temporal UI)."""

from typing import TYPE_CHECKING, Annotated

import typer

from optiinfra.cli.errors import BAD_INPUT, fail
from optiinfra.cli.output import AsJson, print_json, print_table
from optiinfra.cli.remote import call_api
from optiinfra.domain.enums import AgentKind

if TYPE_CHECKING:
    from optiinfra.cli.api_client import ApiClient

workloads_app = typer.Typer(help="The workloads being optimized.", no_args_is_help=True)
LIST_COLUMNS = ("CUSTOMER", "WORKLOAD", "NAME", "MODEL", "REGION", "KUBERNETES")


@workloads_app.command("list")
def list_workloads(as_json: AsJson = False) -> None:
    """Every workload the token may see, by customer."""
    found = call_api(lambda client: client.list_workloads())
    if as_json:
        print_json(found)
        return
    rows = [
        (
            item.customer_id,
            item.workload_id,
            item.name,
            item.model_name,
            item.region,
            f"{item.kube_namespace}/{item.kube_deployment}" if item.kube_deployment else None,
        )
        for item in found
    ]
    print_table(LIST_COLUMNS, rows, empty="no workloads")


def optimize(
    workload: Annotated[str, typer.Argument(help="The workload's id (see `workloads list`), e.g. chat-8b")],
    agent: Annotated[
        AgentKind | None,
        typer.Option(help="Run this agent alone (default: all the agents as one team, a joint optimization)"),
    ] = None,
    customer: Annotated[
        str | None,
        typer.Option(help="The workload's customer (default: the one customer with a workload of that id)"),
    ] = None,
) -> None:
    """Start an optimization of one workload and print its workflow id.

    A joint optimization by default (the agents propose, their conflicts are resolved, the accepted changes
    run), or one agent's with --agent."""

    async def start(client: "ApiClient") -> str:
        owner = customer if customer is not None else await _owner_of(client, workload)
        if agent is None:
            return await client.start_joint_optimization(owner, workload)
        started = await client.start_optimization(owner, workload, [agent.value])
        return started.workflow_id

    typer.echo(call_api(start))


async def _owner_of(client: "ApiClient", workload_id: str) -> str:
    workloads = await client.list_workloads()
    owners = sorted({found.customer_id for found in workloads if found.workload_id == workload_id})
    if not owners:
        raise fail(f"no workload {workload_id} (see `optiinfra workloads list`)", BAD_INPUT)
    if len(owners) > 1:
        raise fail(
            f"workload {workload_id} belongs to customers {', '.join(owners)}: pass --customer", BAD_INPUT
        )
    return owners[0]
