"""Fleet-scan schedule specs and the ids they give scans and joint runs (no server: the dev-server tests are
tests/api/test_schedules.py and tests/workflows/test_fleet_scan_schedule.py)."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from optiinfra.control.schedule_spec import ScanScheduleSpec, check_cron
from optiinfra.control.schedules import (
    SCAN_CATCHUP_WINDOW,
    scan_schedule,
    scan_workflow_id,
    temporal_schedule_id,
)
from optiinfra.domain.enums import AgentKind
from optiinfra.settings import Settings
from workflows.contracts import ALL_AGENTS, FleetScanRequest
from workflows.fleet_scan import joint_workflow_id, scan_time_label


@pytest.mark.parametrize(
    "cron",
    [
        "0 2 * * *",
        "0 2 * * * 2027",
        "*/30 * * * * * *",
        "  15 10 * * mon-fri  ",
        "0 2 * * * # nightly",
        "@daily",
        "@hourly",
        "@every 90m",
    ],
)
def test_cron_shapes_temporal_accepts_pass(cron: str) -> None:
    assert check_cron(cron) == cron.strip()


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("* * * *", "has 4 field(s)"),
        ("0 0 0 1 1 * 2027 x", "has 8 field(s)"),
        ("   ", "may not be empty"),
        ("# only a comment", "may not be empty"),
        ("CRON_TZ=UTC 0 2 * * *", "`timezone`"),
        ("TZ=Asia/Tokyo 0 2 * * *", "`timezone`"),
        ("@reboot", "unknown shorthand"),
    ],
)
def test_cron_shapes_temporal_refuses_fail_with_a_reason(cron: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_cron(cron)


def test_a_spec_defaults_to_every_agent_in_utc() -> None:
    spec = ScanScheduleSpec(schedule_id="nightly", cron=["0 2 * * *"])
    assert (spec.timezone, spec.customer_id, spec.agents, spec.note) == ("UTC", None, list(ALL_AGENTS), "")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"timezone": ""}, "unknown time zone"),
        ({"cron": []}, "at least 1 item"),
        ({"cron": ["* *"]}, "has 2 field(s)"),
        ({"schedule_id": "-nightly"}, "schedule_id"),
        ({"schedule_id": "a" * 64}, "schedule_id"),
        ({"agents": []}, "agents"),
        ({"agents": ["cost", "cost"]}, "each agent may appear once"),
    ],
)
def test_a_bad_spec_is_refused(fields: dict[str, object], reason: str) -> None:
    values: dict[str, object] = {"schedule_id": "nightly", "cron": ["0 2 * * *"], **fields}
    with pytest.raises(ValidationError, match=re.escape(reason)):
        ScanScheduleSpec.model_validate(values)


def test_the_schedule_starts_a_fleet_scan_on_the_task_queue_at_the_cron_times() -> None:
    settings = Settings(temporal_task_queue="fleet", approval_timeout_seconds=600)
    spec = ScanScheduleSpec(
        schedule_id="weekdays",
        cron=["0 6 * * mon-fri"],
        timezone="America/New_York",
        customer_id="acme",
        agents=[AgentKind.COST],
        note="before the day starts",
    )
    schedule = scan_schedule(spec, settings)
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id, action.task_queue) == (
        "FleetScanWorkflow",
        "scan/acme/weekdays",
        "fleet",
    )
    (request,) = action.args
    assert isinstance(request, FleetScanRequest)
    assert (request.customer_id, request.agents) == ("acme", [AgentKind.COST])
    assert request.timing.approval_timeout_seconds == 600
    assert (schedule.spec.cron_expressions, schedule.spec.time_zone_name) == (
        ["0 6 * * mon-fri"],
        "America/New_York",
    )
    assert schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    assert schedule.policy.catchup_window == SCAN_CATCHUP_WINDOW
    assert schedule.state.note == "before the day starts"
    assert temporal_schedule_id("weekdays") == "optiinfra/scan/weekdays"
    assert scan_workflow_id("weekdays") == "scan/weekdays"
    assert scan_workflow_id("weekdays", "acme") == "scan/acme/weekdays"


def test_a_scan_tick_is_named_in_utc_at_minute_resolution() -> None:
    tick = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert scan_time_label(tick) == "20261122T1000Z"
    assert joint_workflow_id("demo", "chat-8b", tick) == "joint/demo/chat-8b/scan/20261122T1000Z"
    paris = timezone(timedelta(hours=1))
    assert scan_time_label(datetime(2026, 11, 22, 11, 0, tzinfo=paris)) == "20261122T1000Z"
    # A sub-minute cron's ticks keep their seconds, so two ticks of one minute stay two scans.
    assert scan_time_label(datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC)) == "20261122T100030Z"
