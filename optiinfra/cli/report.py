"""What `optiinfra run` prints at the end: the readable report, or its result as JSON for scripts.

Neither names an address the run has stopped: after a throwaway stack, the way to keep one up is said
instead (and recommendations are approved on a running `optiinfra up`)."""

from pydantic import BaseModel

from optiinfra.cli.run_once import WorkloadRun
from optiinfra.domain.enums import RecommendationStatus

KEEP_A_STACK = (
    "This run used a throwaway stack, now stopped. To keep one up (API, portal, approvals), start "
    "`optiinfra up` in another terminal: `optiinfra run` then uses it."
)


def _money(value: float) -> str:
    return f"${value:,.0f}/month"


def render_report(runs: list[WorkloadRun], *, persistent_stack: bool, api_url: str) -> str:
    """`persistent_stack`: the run used a running `optiinfra up`, whose API at `api_url` still answers."""
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

    executed = _with_status(runs, RecommendationStatus.EXECUTED)
    waiting = _with_status(runs, RecommendationStatus.PENDING_APPROVAL)
    lines += ["", f"Executed {len(executed)}:"]
    for run in executed:
        rec = run.recommendation
        assert rec is not None
        applied = sum(1 for s in rec.step_results if s.status.value == "succeeded")
        lines.append(
            f"  - {rec.title}: {applied} step(s) applied and verified, "
            f"{_money(rec.estimated_monthly_savings_usd)}"
        )
    lines += ["", f"Waiting for approval {len(waiting)}:"]
    for run in waiting:
        rec = run.recommendation
        assert rec is not None
        if persistent_stack:
            lines.append(f"  - {rec.id}  {rec.title}")
            lines.append(
                f"      optiinfra recommendations approve {rec.id} --approver YOUR_NAME --reason '...'"
            )
        else:
            lines.append(f"  - {rec.title}")
    totals = savings(runs)
    lines += [
        "",
        f"Savings: {_money(totals.executed_monthly_usd)} executed, "
        f"{_money(totals.pending_monthly_usd)} more waiting for approval.",
        f"API: {api_url}/docs (the running `optiinfra up`)" if persistent_stack else KEEP_A_STACK,
    ]
    return "\n".join(lines)


def _with_status(runs: list[WorkloadRun], status: RecommendationStatus) -> list[WorkloadRun]:
    return [r for r in runs if r.recommendation is not None and r.recommendation.status is status]


class Savings(BaseModel):
    executed_monthly_usd: float
    pending_monthly_usd: float


def savings(runs: list[WorkloadRun]) -> Savings:
    """Monthly savings of the changes carried out, and of those waiting for approval."""

    def total(status: RecommendationStatus) -> float:
        return sum(
            r.recommendation.estimated_monthly_savings_usd
            for r in _with_status(runs, status)
            if r.recommendation is not None
        )

    return Savings(
        executed_monthly_usd=total(RecommendationStatus.EXECUTED),
        pending_monthly_usd=total(RecommendationStatus.PENDING_APPROVAL),
    )


class RunResult(BaseModel):
    """`optiinfra run --json`: every workload's run (its first change, with the recommendation in full,
    and the team's proposals and resolved conflicts) and the savings."""

    stack: str
    """"running": a running `optiinfra up`, whose API is `api_url`; "throwaway": started and stopped"""
    api_url: str | None
    workloads: list[WorkloadRun]
    savings: Savings


def run_result(runs: list[WorkloadRun], *, persistent_stack: bool, api_url: str) -> RunResult:
    return RunResult(
        stack="running" if persistent_stack else "throwaway",
        api_url=api_url if persistent_stack else None,
        workloads=runs,
        savings=savings(runs),
    )
