"""Structured logs on stderr: one JSON object per line (production), or one readable line per record
(a terminal), each naming the workflow and activity it came from and the active trace.

Temporal's `workflow.logger` and `activity.logger` put the run's ids in the record's `temporal_workflow`
/ `temporal_activity` extra dicts; a plain `logging.getLogger(...)` record made inside an activity or a
workflow gets the same ids from the running context. Workflow loggers stay silent during replay (the
SDK's default), so a line is written once per event, not once per replay."""

import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from opentelemetry import trace
from pydantic import SecretStr
from temporalio import activity, workflow

from optiinfra.access.keys import KEY_PREFIX
from optiinfra.settings import Settings

LogFormat = Literal["json", "text"]

CONTEXT_FIELDS = (
    "workflow_id",
    "run_id",
    "workflow_type",
    "activity_id",
    "activity_type",
    "task_queue",
    "attempt",
    "update_id",
    "update_name",
)
"""Taken from the Temporal context of a record, in this order, when present."""

HANDLER_NAME = "optiinfra"
CHATTY = ("httpx", "httpcore", "mcp")
"""Libraries that log every request at INFO (the collector's scrapes, the MCP endpoint's calls): kept at
WARNING unless the level is DEBUG."""
REDACTED = "[redacted]"

_BEARER = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
_API_KEY = re.compile(re.escape(KEY_PREFIX) + r"([0-9a-f]+)_[A-Za-z0-9_\-]+")


def temporal_context(record: logging.LogRecord) -> dict[str, Any]:
    """The run's ids: from the SDK loggers' extras, else from the activity or workflow running now."""
    found: dict[str, Any] = {}
    workflow_extra = getattr(record, "temporal_workflow", None)
    activity_extra = getattr(record, "temporal_activity", None)
    if isinstance(workflow_extra, Mapping):
        found.update(workflow_extra)
    elif isinstance(activity_extra, Mapping):
        found.update(activity_extra)
        if "workflow_run_id" in activity_extra:
            found["run_id"] = activity_extra["workflow_run_id"]
    elif activity.in_activity():
        a = activity.info()
        found.update(
            activity_id=a.activity_id,
            activity_type=a.activity_type,
            attempt=a.attempt,
            task_queue=a.task_queue,
            workflow_id=a.workflow_id,
            run_id=a.workflow_run_id,
            workflow_type=a.workflow_type,
        )
    elif workflow.in_workflow():
        w = workflow.info()
        found.update(
            workflow_id=w.workflow_id,
            run_id=w.run_id,
            workflow_type=w.workflow_type,
            task_queue=w.task_queue,
            attempt=w.attempt,
        )
    return {name: found[name] for name in CONTEXT_FIELDS if found.get(name) is not None}


def trace_context() -> dict[str, str]:
    """The active span's trace and span ids (hex, as tracing backends show them), if one is active."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return {}
    return {"trace_id": format(span.trace_id, "032x"), "span_id": format(span.span_id, "016x")}


class Redactor:
    """Blanks secrets out of a formatted line: the configured ones (the settings' SecretStr values), any
    bearer credential, and the secret part of an API key (`oik_<id>_[redacted]`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if len(secret) >= 8 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
        return _API_KEY.sub(lambda m: f"{KEY_PREFIX}{m.group(1)}_{REDACTED}", text)


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret the settings hold, to be kept out of the logs."""
    return [
        value.get_secret_value()
        for value in (getattr(settings, name) for name in type(settings).model_fields)
        if isinstance(value, SecretStr)
    ]


class _Base(logging.Formatter):
    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redact = redactor or Redactor()

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        return {**temporal_context(record), **trace_context()}

    def timestamp(self, record: logging.LogRecord) -> str:
        return (
            datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )

    def exception_text(self, record: logging.LogRecord) -> str | None:
        if record.exc_info:
            return self.formatException(record.exc_info)
        return record.exc_text or None


class JsonFormatter(_Base):
    """One JSON object per line: ts, level, logger, message, the Temporal ids present, trace_id / span_id
    when a span is active, and `exception` (the traceback) when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self.fields(record),
        }
        if (exception := self.exception_text(record)) is not None:
            line["exception"] = exception
        if record.stack_info:
            line["stack"] = record.stack_info
        return self.redact(json.dumps(line, default=str, ensure_ascii=False))


class TextFormatter(_Base):
    """`<ts> <LEVEL> <logger>: <message> key=value ...`, on one line: a traceback's line breaks are
    written as `\\n`."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{self.timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = self.fields(record)
        if fields:
            text += "  " + " ".join(f"{key}={value}" for key, value in fields.items())
        if (exception := self.exception_text(record)) is not None:
            text += " | " + exception
        if record.stack_info:
            text += " | " + record.stack_info
        return self.redact(text.replace("\r", "").replace("\n", "\\n"))


def log_format(settings: Settings) -> LogFormat:
    if settings.log_format is not None:
        return settings.log_format
    return "json" if settings.profile == "production" else "text"


def log_level(settings: Settings, default: str = "INFO") -> int:
    return logging.getLevelNamesMapping()[settings.log_level or default]


def configure_logging(
    settings: Settings, *, default_level: str = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """Route every logger (the root's handler) to stderr in the configured format and level
    (OPTIINFRA_LOG_FORMAT, OPTIINFRA_LOG_LEVEL, else `default_level`). Replaces any handler a previous
    call installed; leaves other handlers (a test's capture) alone. Returns the handler."""
    formatter: logging.Formatter
    redactor = Redactor(settings_secrets(settings))
    formatter = JsonFormatter(redactor) if log_format(settings) == "json" else TextFormatter(redactor)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    level = log_level(settings, default_level)
    root.setLevel(level)
    for name in CHATTY:
        logging.getLogger(name).setLevel(
            logging.NOTSET if level <= logging.DEBUG else max(level, logging.WARNING)
        )
    # The ids are fields of their own; the SDK's copy of them appended to every message would repeat them.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    logging.captureWarnings(True)
    return handler
