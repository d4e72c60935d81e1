"""What the workflows count, through the workflow's metric meter: replay safe (a replayed history counts
nothing again), and tagged by the SDK with the namespace, task queue and workflow type. Workflow code:
call only from inside a workflow."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from optiinfra.engine.metrics_runtime import (
        COMPENSATIONS,
        OPTIMIZATIONS_FINISHED,
        OPTIMIZATIONS_STARTED,
        SAVINGS_EXECUTED_USD,
        SCHEDULE_LAG_SECONDS,
    )
    from workflows.search_attributes import SCHEDULED_START_TIME

NO_TYPE = "none"
"""The `type` of a run that ended without a recommendation (no action, proposals only, a failed start)."""


def optimization_started(*, agent: str, mode: str) -> None:
    workflow.metric_meter().create_counter(
        OPTIMIZATIONS_STARTED, "Optimization runs started, by agent and mode"
    ).add(1, {"agent": agent, "mode": mode})


def optimization_finished(*, agent: str, mode: str, type: str, outcome: str) -> None:
    """`outcome`: the phase the run ended in (executed, rejected, rolled_back, no_action, ...), or
    `cancelled` / `errored` for a run that ended by cancellation or failure."""
    workflow.metric_meter().create_counter(
        OPTIMIZATIONS_FINISHED, "Optimization runs finished, by agent, mode, recommendation type and outcome"
    ).add(1, {"agent": agent, "mode": mode, "type": type, "outcome": outcome})


def savings_executed(*, agent: str, type: str, monthly_usd: float) -> None:
    """An executed recommendation's estimated monthly savings, in whole dollars."""
    dollars = round(monthly_usd)
    if dollars <= 0:
        return
    workflow.metric_meter().create_counter(
        SAVINGS_EXECUTED_USD, "Estimated monthly savings of executed recommendations, USD"
    ).add(dollars, {"agent": agent, "type": type})


def compensation_run(*, action: str, succeeded: bool) -> None:
    workflow.metric_meter().create_counter(
        COMPENSATIONS, "Compensations run (saga rollbacks and requested rollbacks), by action and outcome"
    ).add(1, {"action": action, "outcome": "succeeded" if succeeded else "failed"})


def scheduled_run_started() -> None:
    """How late this run started after its Schedule's nominal tick (the server's firing and the wait for a
    worker together), by workflow type; nothing for a run no Schedule started. Call first thing in `run`."""
    scheduled = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
    if scheduled is None:
        return
    lag = max(0.0, (workflow.now() - scheduled).total_seconds())
    workflow.metric_meter().create_histogram_float(
        SCHEDULE_LAG_SECONDS, "From a Schedule's nominal tick to the first task of its run, seconds"
    ).record(lag)
