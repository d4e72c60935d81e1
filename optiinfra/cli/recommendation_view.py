"""How recommendations read on a terminal: the columns of `recommendations list` and the whole of one in
`recommendations show`."""

import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from api.responses import RecommendationDetail, RecommendationItem

LIST_COLUMNS = ("ID", "STATUS", "SAVINGS/MONTH", "RISK", "AGENT", "WORKLOAD", "TITLE")
WRAP = 100


def money(value: float) -> str:
    return f"${value:,.0f}"


def list_row(item: "RecommendationItem") -> tuple[str, ...]:
    return (
        item.id,
        item.status.value,
        money(item.estimated_monthly_savings_usd),
        item.risk_level.value,
        item.agent.value,
        f"{item.customer_id}/{item.workload_id}",
        item.title,
    )


def render_detail(rec: "RecommendationDetail") -> str:
    """Every fact of one recommendation, its steps, evidence and results as plain lines."""
    status = rec.status.value + (f" ({rec.status_reason})" if rec.status_reason else "")
    facts = [
        ("status", status),
        ("workload", f"{rec.customer_id}/{rec.workload_id}"),
        ("agent", f"{rec.agent.value} ({rec.type.value})"),
        ("risk", f"{rec.risk_level.value}, confidence {rec.confidence:.2f}"),
        (
            "savings",
            f"{money(rec.estimated_monthly_savings_usd)}/month ({money(rec.current_monthly_cost_usd)} -> "
            f"{money(rec.projected_monthly_cost_usd)} a month)",
        ),
        ("workflow", rec.workflow_id),
        ("created", rec.created_at.isoformat()),
        ("updated", rec.updated_at.isoformat()),
    ]
    if rec.approval is not None:
        facts.append(("decision", rec.approval.described()))
    lines = [f"{rec.id}: {rec.title}"]
    lines += [f"  {name:<10} {value}" for name, value in facts]
    lines += [
        "",
        "Reasoning:",
        *textwrap.wrap(rec.reasoning, WRAP, initial_indent="  ", subsequent_indent="  "),
    ]
    lines += ["", f"Steps ({len(rec.steps)}):"]
    for number, step in enumerate(rec.steps, start=1):
        lines.append(
            f"  {number}. [{step.phase.value}] {step.action.value} {step.target}: {step.description}"
        )
        if step.compensation is not None:
            lines.append(f"     undo: {step.compensation.action.value} {step.compensation.target}")
    if rec.evidence:
        lines += ["", "Evidence:"]
        lines += [f"  {name}: {value}" for name, value in sorted(rec.evidence.items())]
    if rec.step_results:
        lines += ["", "Step results:"]
        for result in rec.step_results:
            detail = f": {result.detail}" if result.detail else ""
            lines.append(
                f"  {result.step_id} {result.action.value} {result.target} {result.status.value}{detail}"
            )
    if rec.outcome is not None:
        verified = {True: "passed", False: "failed", None: "not run"}[rec.outcome.verification_passed]
        lines += ["", f"Outcome: {rec.outcome.status.value}, verification {verified}"]
        if rec.outcome.failure_reason:
            lines.append(f"  reason: {rec.outcome.failure_reason}")
    return "\n".join(lines)
