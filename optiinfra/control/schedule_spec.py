"""What a fleet-scan schedule is, as the API takes and shows it: its spec (cron expressions in a time zone,
what it scans) and its view (the spec, its state, its next and latest scans). Models and their checks only,
so that a client reading schedules back loads no part of Temporal; `optiinfra.control.schedules` makes and
reads the schedules."""

import re
import zoneinfo
from datetime import datetime

from pydantic import BaseModel, Field, field_validator

from optiinfra.domain.agent_choice import DistinctAgents
from optiinfra.domain.enums import AgentKind
from workflows.contracts import ALL_AGENTS

SCAN_SCHEDULE_PREFIX = "optiinfra/scan/"
SCHEDULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


_CRON_SHORTHANDS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_CRON_FIELDS = "5 (minute hour day-of-month month day-of-week), 6 (+ year) or 7 (second first, + year)"


def check_cron(expression: str) -> str:
    """The expression, stripped, if its shape is one Temporal accepts; ValueError naming what is wrong
    otherwise. Field values are left to the server, whose message the caller gets."""
    cron = expression.strip()
    body = cron.split("#", 1)[0].strip()  # Temporal allows a trailing `# comment`
    if not body:
        raise ValueError("a cron expression may not be empty")
    if re.match(r"^(CRON_)?TZ=", body):
        raise ValueError(f"{cron!r}: give the time zone in `timezone`, not in the cron expression")
    if body.startswith("@"):
        if body.lower() in _CRON_SHORTHANDS or re.fullmatch(r"@every\s+\S+", body):
            return cron
        known = ", ".join(sorted(_CRON_SHORTHANDS))
        raise ValueError(f"{cron!r}: unknown shorthand; use one of {known} or @every <interval>")
    fields = len(body.split())
    if not 5 <= fields <= 7:
        raise ValueError(f"{cron!r} has {fields} field(s); a cron expression has {_CRON_FIELDS}")
    return cron


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as UTC or Europe/Paris)") from error
    return name


class ScanScheduleSpec(BaseModel):
    """What a fleet-scan schedule does: when (cron, in a time zone) and what it scans."""

    schedule_id: str = Field(
        pattern=SCHEDULE_ID_PATTERN, description="e.g. nightly; Temporal id optiinfra/scan/nightly"
    )
    cron: list[str] = Field(
        min_length=1,
        max_length=20,
        description="Cron expressions, e.g. `0 2 * * *`; 7 fields put seconds first: `*/30 * * * * * *`",
    )
    timezone: str = Field(default="UTC", description="IANA time zone the cron times are read in")
    customer_id: str | None = Field(
        default=None, pattern=SCHEDULE_ID_PATTERN, description="Scan only this customer's workloads"
    )
    agents: DistinctAgents = Field(
        default_factory=lambda: list(ALL_AGENTS),
        min_length=1,
        max_length=len(AgentKind),
        json_schema_extra={"uniqueItems": True},
    )
    note: str = Field(default="", max_length=2000)

    @field_validator("cron")
    @classmethod
    def cron_shapes(cls, cron: list[str]) -> list[str]:
        return [check_cron(expression) for expression in cron]

    @field_validator("timezone")
    @classmethod
    def known_timezone(cls, name: str) -> str:
        return check_timezone(name)


class ScanRun(BaseModel):
    """One scan the schedule started."""

    scheduled_at: datetime
    started_at: datetime
    workflow_id: str
    run_id: str


class ScanScheduleView(BaseModel):
    schedule_id: str
    temporal_schedule_id: str
    cron: list[str]
    timezone: str
    customer_id: str | None
    agents: list[AgentKind]
    note: str
    paused: bool
    pause_note: str | None = Field(default=None, description="Why it was paused or unpaused, if said")
    next_action_times: list[datetime] = Field(default_factory=list)
    recent_runs: list[ScanRun] = Field(
        default_factory=list, description="The latest scans started, oldest first"
    )

    @property
    def recent_action_times(self) -> list[datetime]:
        return [run.scheduled_at for run in self.recent_runs]

    @property
    def recent_workflow_ids(self) -> list[str]:
        return [run.workflow_id for run in self.recent_runs]

    @property
    def owner(self) -> str | None:
        """The customer the schedule lives under in Temporal (None: directly under the prefix, as fleet-wide
        schedules and those made before schedules were kept per customer)."""
        owner, _, _ = self.temporal_schedule_id.removeprefix(SCAN_SCHEDULE_PREFIX).rpartition("/")
        return owner or None
