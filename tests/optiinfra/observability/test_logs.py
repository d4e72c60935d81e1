"""The structured log handler: JSON and text lines, the Temporal ids as the SDK's loggers attach them (and
as a real activity's logger does), the level and format from settings, and no secret in any line."""

import dataclasses
import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from pydantic import SecretStr
from temporalio import activity, workflow
from temporalio.testing import ActivityEnvironment

from optiinfra.observability.logs import (
    HANDLER_NAME,
    JsonFormatter,
    Redactor,
    TextFormatter,
    configure_logging,
)
from optiinfra.settings import Settings

WORKFLOW_EXTRA = {
    "attempt": 1,
    "namespace": "default",
    "run_id": "run-1",
    "task_queue": "optiinfra",
    "workflow_id": "opt/demo/chat-8b/cost/3",
    "workflow_type": "AgentOptimizationWorkflow",
}
ACTIVITY_EXTRA = {
    "activity_id": "7",
    "activity_type": "execute_step",
    "attempt": 2,
    "namespace": "default",
    "task_queue": "optiinfra",
    "workflow_id": "opt/demo/chat-8b/cost/3",
    "workflow_run_id": "run-1",
    "workflow_type": "AgentOptimizationWorkflow",
}


def _record(message: str = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("some.logger", logging.INFO, __file__, 1, message, args, None)
    record.__dict__.update(extra)
    return record


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """configure_logging changes the root logger and the SDK loggers' flags: put them back."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    flags = (workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message)
    chatty = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "mcp")}
    yield
    for handler in root.handlers[:]:
        if handler.get_name() == HANDLER_NAME:
            root.removeHandler(handler)
    root.handlers[:] = handlers
    root.setLevel(level)
    workflow.logger.workflow_info_on_message, activity.logger.activity_info_on_message = flags
    for name, chatty_level in chatty.items():
        logging.getLogger(name).setLevel(chatty_level)
    logging.captureWarnings(False)


def test_a_workflow_record_carries_the_run_ids() -> None:
    line = json.loads(JsonFormatter().format(_record(temporal_workflow=WORKFLOW_EXTRA)))

    assert line["message"] == "hello world"
    assert line["level"] == "INFO" and line["logger"] == "some.logger"
    assert datetime.fromisoformat(line["ts"]).tzinfo is not None
    assert {k: line[k] for k in ("workflow_id", "run_id", "workflow_type", "task_queue", "attempt")} == {
        "workflow_id": "opt/demo/chat-8b/cost/3",
        "run_id": "run-1",
        "workflow_type": "AgentOptimizationWorkflow",
        "task_queue": "optiinfra",
        "attempt": 1,
    }
    assert "activity_id" not in line and "trace_id" not in line


def test_an_update_handler_record_names_the_update() -> None:
    extra = {**WORKFLOW_EXTRA, "update_id": "u-1", "update_name": "decide"}
    line = json.loads(JsonFormatter().format(_record(temporal_workflow=extra)))

    assert (line["update_id"], line["update_name"]) == ("u-1", "decide")


def test_an_activity_record_carries_the_activity_and_its_workflow() -> None:
    line = json.loads(JsonFormatter().format(_record(temporal_activity=ACTIVITY_EXTRA)))

    assert line["activity_id"] == "7" and line["activity_type"] == "execute_step"
    assert line["attempt"] == 2
    assert line["workflow_id"] == "opt/demo/chat-8b/cost/3" and line["run_id"] == "run-1"
    assert "workflow_run_id" not in line


def test_a_span_in_progress_is_named() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        line = json.loads(JsonFormatter().format(_record()))
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")


async def test_a_real_activity_logger_line_carries_its_ids() -> None:
    """The SDK's own activity logger, in a running activity (the ids taken from its `temporal_activity`),
    and a plain logger in the same activity (the ids taken from the activity's context)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    plain = logging.getLogger("tests.plain")
    for logger in (activity.logger.base_logger, plain):
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)

    @activity.defn(name="logging_activity")
    async def logging_activity() -> None:
        activity.logger.info("from the SDK logger")
        plain.info("from a plain logger")

    try:
        environment = ActivityEnvironment()
        environment.info = dataclasses.replace(environment.info, activity_type="logging_activity")
        await environment.run(logging_activity)
    finally:
        for logger in (activity.logger.base_logger, plain):
            logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)
    lines = [json.loads(text) for text in stream.getvalue().splitlines()]

    assert len(lines) == 2
    for line in lines:
        assert line["activity_type"] == "logging_activity" and line["activity_id"]
        assert line["workflow_id"] and line["run_id"] and line["task_queue"] and line["attempt"] == 1
    assert lines[0]["message"].startswith("from the SDK logger")
    assert lines[1]["message"] == "from a plain logger"


def test_a_text_line_is_one_line_even_with_a_traceback() -> None:
    try:
        raise ValueError("first\nsecond")
    except ValueError:
        record = _record(temporal_activity=ACTIVITY_EXTRA)
        record.exc_info = sys.exc_info()
    text = TextFormatter().format(record)

    assert "\n" not in text
    assert " INFO    some.logger: hello world  workflow_id=opt/demo/chat-8b/cost/3 run_id=run-1" in text
    assert "activity_type=execute_step" in text and "ValueError: first\\nsecond" in text


def test_secrets_never_reach_a_line() -> None:
    redact = Redactor(["the-platform-token-0123"])
    key = "oik_0123456789ab_c2VjcmV0LXNlY3JldC1zZWNyZXQ"
    message = f"token the-platform-token-0123, header Authorization: Bearer abc.def.ghi, key {key}"
    for formatter in (JsonFormatter(redact), TextFormatter(redact)):
        text = formatter.format(_record(message, ()))
        assert "the-platform-token-0123" not in text and "abc.def.ghi" not in text
        assert "c2VjcmV0" not in text and "oik_0123456789ab_[redacted]" in text


def test_configured_json_in_production_with_the_settings_secrets_kept_out(restored_logging: None) -> None:
    stream = io.StringIO()
    settings = Settings(profile="production", api_token=SecretStr("platform-token-abcdefgh"))
    configure_logging(settings, stream=stream)
    logging.getLogger("tests.configured").info("INFO shows; token %s", "platform-token-abcdefgh")
    logging.getLogger("tests.configured").debug("DEBUG does not")
    logging.getLogger("httpx").info("HTTP Request: GET http://10.0.0.1:8000/metrics")

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["message"] == "INFO shows; token [redacted]"
    assert "platform-token-abcdefgh" not in stream.getvalue()


def test_configured_text_by_default_and_once(restored_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(Settings(), stream=first)
    configure_logging(Settings(), stream=second)  # replaces its own handler, no duplicate lines
    logging.getLogger("tests.configured").info("one line")

    assert first.getvalue() == ""
    assert second.getvalue().count("\n") == 1 and "INFO    tests.configured: one line" in second.getvalue()
    assert sum(h.get_name() == HANDLER_NAME for h in logging.getLogger().handlers) == 1
    # The SDK's copy of the ids on the message is dropped: they are fields of the line already.
    assert workflow.logger.workflow_info_on_message is False
    assert activity.logger.activity_info_on_message is False


def test_level_from_settings_over_the_command_default(
    restored_logging: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = io.StringIO()
    configure_logging(Settings(), default_level="WARNING", stream=stream)  # as `optiinfra run` does
    logging.getLogger("tests.configured").info("hidden")
    logging.getLogger("tests.configured").warning("shown")
    assert "hidden" not in stream.getvalue() and "shown" in stream.getvalue()

    monkeypatch.setenv("OPTIINFRA_LOG_LEVEL", "info")
    monkeypatch.setenv("OPTIINFRA_LOG_FORMAT", "JSON")
    stream = io.StringIO()
    configure_logging(Settings(), default_level="WARNING", stream=stream)
    logging.getLogger("tests.configured").info("now shown")
    assert json.loads(stream.getvalue())["message"] == "now shown"
