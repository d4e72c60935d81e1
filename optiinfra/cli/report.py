"""The readable report of `optiinfra run`."""

from optiinfra.cli.run_once import WorkloadRun
from optiinfra.domain.enums import RecommendationStatus


def _money(value: float) -> str:
    return f"${value:,.0f}/month"


def render_report(runs: list[WorkloadRun], *, persistent_stack: bool, api_url: str) -> str:
    agents = sorted({found.agent.value for run in runs if run.joint for found in run.joint.proposals})
    by = ", ".join(agents) + " agents" if agents else "agents"
    lines = [f"OptiInfra run: {len(runs)} workload(s), each optimized jointly by the {by}", ""]
    found = [r for r in runs if r.recommendation is not None]
    lines.append(f"Found {len(found)} recommendation(s):")
    for run in found:
        rec = run.recommendation
        assert rec is not None
        lines.append(
            f"  - [{rec.status.value}] {rec.title}: saves {_money(rec.estimated_monthly_savings_usd)} "
            f"({_money(rec.current_monthly_cost_usd)} -> {_money(rec.projected_monthly_cost_usd)}), "
            f"risk {rec.risk_level.value}, confidence {rec.confidence:.2f}"
        )
        lines.append(f"      workflow {run.workflow_id}; {run.status.gate_reason or ''}")
        if rec.status in (RecommendationStatus.ROLLED_BACK, RecommendationStatus.FAILED) and rec.outcome:
            lines.append(f"      reason: {rec.outcome.failure_reason}")
    conflicted = [r for r in runs if r.joint is not None and r.joint.conflicts]
    if conflicted:
        lines += ["", "Conflicts resolved:"]
        for run in conflicted:
            assert run.joint is not None
            for conflict, resolution in zip(run.joint.conflicts, run.joint.resolutions, strict=False):
                winner = resolution.winner.value if resolution.winner else "neither"
                lines.append(
                    f"  - {run.customer_id}/{run.workload_id}: {conflict.kind.value} "
                    f"({' vs '.join(a.value for a in conflict.agents)}): {winner} goes ahead "
                    f"by {resolution.method.value} - {resolution.reason}"
                )
    idle = [r for r in runs if r.recommendation is None]
    if idle:
        lines += ["", "Nothing to do for:"]
        lines += [f"  - {r.customer_id}/{r.workload_id}: {'; '.join(r.status.notes)}" for r in idle]

    executed = [
        r.recommendation
        for r in found
        if r.recommendation and r.recommendation.status is RecommendationStatus.EXECUTED
    ]
    waiting = [
        r.recommendation
        for r in found
        if r.recommendation and r.recommendation.status is RecommendationStatus.PENDING_APPROVAL
    ]
    lines += ["", f"Executed {len(executed)}:"]
    for rec in executed:
        applied = sum(1 for s in rec.step_results if s.status.value == "succeeded")
        lines.append(
            f"  - {rec.title}: {applied} step(s) applied and verified, "
            f"{_money(rec.estimated_monthly_savings_usd)}"
        )
    lines += ["", f"Waiting for approval {len(waiting)}:"]
    for rec in waiting:
        lines.append(f"  - {rec.id}  {rec.title}")
        lines.append(f"      optiinfra recommendations approve {rec.id} --approver YOUR_NAME --reason '...'")
    if waiting and not persistent_stack:
        lines.append(
            "  (This run used a throwaway stack, now stopped. Start `optiinfra up` in another terminal "
            "and run `optiinfra run` again to keep recommendations waiting and approve them.)"
        )
    saved = sum(r.estimated_monthly_savings_usd for r in executed)
    pending = sum(r.estimated_monthly_savings_usd for r in waiting)
    lines += [
        "",
        f"Savings: {_money(saved)} executed, {_money(pending)} more waiting for approval.",
        f"API: {api_url}/docs",
    ]
    return "\n".join(lines)
