"""`optiinfra recommendations list|show|approve|reject`, through the control-plane API."""

from typing import Annotated

import typer

from optiinfra.cli.output import AsJson, print_json, print_table
from optiinfra.cli.remote import call_api
from optiinfra.domain.enums import RecommendationStatus

recommendations_app = typer.Typer(
    help="List, show, approve and reject recommendations.", no_args_is_help=True
)

RecommendationId = Annotated[str, typer.Argument(help="The recommendation's id (see `recommendations list`)")]
Reason = Annotated[str, typer.Option(help="Why (recorded with the decision)")]
Approver = Annotated[
    str | None,
    typer.Option(help="A display note beside the decider, who is the key's or token's principal"),
]


@recommendations_app.command("list")
def list_recommendations(
    status: Annotated[
        RecommendationStatus | None, typer.Option(help="Only those in this status", case_sensitive=False)
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer's")] = None,
    workload: Annotated[str | None, typer.Option(help="Only this workload's")] = None,
    as_json: AsJson = False,
) -> None:
    """Recommendations, newest first."""
    from optiinfra.cli.recommendation_view import LIST_COLUMNS, list_row

    found = call_api(
        lambda client: client.list_recommendations(status.value if status else None, customer, workload)
    )
    if as_json:
        print_json(found)
        return
    print_table(LIST_COLUMNS, [list_row(item) for item in found], empty="no recommendations")


@recommendations_app.command("show")
def show(recommendation_id: RecommendationId, as_json: AsJson = False) -> None:
    """One recommendation in full.

    Its figures, reasoning, steps with their compensations, evidence, the decision on it and what its
    execution did."""
    from optiinfra.cli.recommendation_view import render_detail

    found = call_api(lambda client: client.get_recommendation(recommendation_id))
    if as_json:
        typer.echo(found.model_dump_json(indent=2))
        return
    typer.echo(render_detail(found))


def _decide(recommendation_id: str, decision: str, reason: str, note: str | None) -> None:
    accepted = call_api(lambda client: client.decide(recommendation_id, decision, reason, note))
    typer.echo(f"{decision} sent to workflow {accepted.workflow_id}")


@recommendations_app.command("approve")
def approve(recommendation_id: RecommendationId, reason: Reason, approver: Approver = None) -> None:
    """Approve a waiting recommendation.

    One decision wins: a late or concurrent one is refused."""
    _decide(recommendation_id, "approve", reason, approver)


@recommendations_app.command("reject")
def reject(recommendation_id: RecommendationId, reason: Reason, approver: Approver = None) -> None:
    """Reject a waiting recommendation; nothing executes."""
    _decide(recommendation_id, "reject", reason, approver)
