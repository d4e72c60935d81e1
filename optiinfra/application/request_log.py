"""Tier-1 request logs read as `TokenRecord`s: token counts, timings and errors per request, never text.

Two formats:

- `azure`: the Azure LLM inference trace's CSV (`TIMESTAMP,ContextTokens,GeneratedTokens`, timestamps in
  UTC with 7 fractional digits). It names neither the model nor the kind of request: the caller gives the
  model, and the request type defaults to the file name's last `_` part (`code` for
  `AzureLLMInferenceTrace_code.csv`).
- `tier1`: CSV with a header, or JSON lines (`.jsonl`), whose columns are `TokenRecord`'s fields (`at`,
  `model`, `request_type`, `context_tokens`, `generated_tokens`, `latency_s`, `ttft_s`, `error`); `model` and
  `request_type` may be left out when the caller gives them. Timestamps without a zone are UTC.

A column that is not a tier-1 field (a prompt, a completion, a user id) is refused before any line is read,
and a malformed line stops the read with an error naming the file and line: nothing is dropped silently."""

import csv
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from optiinfra.privacy.records import (
    DEFAULT_REQUEST_TYPE,
    IDENTIFIER_PATTERN,
    QualityComparison,
    TokenRecord,
)

AZURE_COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
TIER1_FIELDS = tuple(TokenRecord.model_fields)
REQUIRED_TIER1_FIELDS = ("at", "context_tokens", "generated_tokens")
JSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})


class LogFormat(StrEnum):
    AUTO = "auto"
    AZURE = "azure"
    TIER1 = "tier1"


class RequestLogError(ValueError):
    """A request log that cannot be read as tier-1 records; the message names the file and line."""


def request_type_from_path(path: Path) -> str:
    """`code` for `AzureLLMInferenceTrace_code.csv`: the stem's last `_` part, when it is a valid request
    type name, else the default request type."""
    candidate = path.stem.rsplit("_", 1)[-1].lower()
    return (
        candidate
        if "_" in path.stem and re.fullmatch(IDENTIFIER_PATTERN, candidate)
        else DEFAULT_REQUEST_TYPE
    )


def _refuse_columns(path: Path, columns: list[str], allowed: tuple[str, ...], line: int) -> None:
    extra = [c for c in columns if c not in allowed]
    if extra:
        raise RequestLogError(
            f"{path}:{line}: column(s) {', '.join(repr(c) for c in extra)} are not tier-1 fields "
            f"({', '.join(allowed)}): tier-1 logs carry token counts, timings and errors, no text"
        )


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _parse_timestamp(text: str) -> datetime:
    """`2023-11-16 18:17:03.9799600`: ISO 8601 with up to 7 fractional digits (the sub-microsecond digit is
    dropped); no zone means UTC."""
    stamp = text.strip()
    head, dot, fraction = stamp.partition(".")
    if dot and fraction.isdigit() and len(fraction) > 6:
        stamp = f"{head}.{fraction[:6]}"
    return _utc(datetime.fromisoformat(stamp))


def _problems(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'record'}: {problem['msg']}"
        for problem in error.errors()
    )


def _record(path: Path, line: int, fields: Mapping[str, Any]) -> TokenRecord:
    try:
        record = TokenRecord.model_validate(fields)
    except ValidationError as error:
        raise RequestLogError(f"{path}:{line}: {_problems(error)}") from error
    return record if record.at.tzinfo is not None else record.model_copy(update={"at": _utc(record.at)})


def read_azure_trace(path: Path, *, model: str, request_type: str | None = None) -> Iterator[TokenRecord]:
    """The Azure LLM inference trace's requests, all of `model` and of `request_type` (default: from the
    file name)."""
    kind = request_type or request_type_from_path(path)
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise RequestLogError(f"{path}:1: empty file, expected the header {','.join(AZURE_COLUMNS)}")
        columns = [c.strip() for c in header]
        _refuse_columns(path, columns, AZURE_COLUMNS, 1)
        if columns != list(AZURE_COLUMNS):
            raise RequestLogError(f"{path}:1: expected the header {','.join(AZURE_COLUMNS)}, got {header}")
        for row in reader:
            if not row:
                continue
            line = reader.line_num
            if len(row) != len(AZURE_COLUMNS):
                raise RequestLogError(f"{path}:{line}: expected {len(AZURE_COLUMNS)} fields, got {len(row)}")
            try:
                at = _parse_timestamp(row[0])
            except ValueError as error:
                raise RequestLogError(f"{path}:{line}: TIMESTAMP is not a timestamp ({error})") from error
            try:
                context, generated = int(row[1]), int(row[2])
            except ValueError as error:
                raise RequestLogError(f"{path}:{line}: token counts must be integers ({error})") from error
            yield _record(
                path,
                line,
                {
                    "at": at,
                    "model": model,
                    "request_type": kind,
                    "context_tokens": context,
                    "generated_tokens": generated,
                },
            )


def _with_defaults(fields: dict[str, Any], model: str | None, request_type: str | None) -> dict[str, Any]:
    if model is not None and "model" not in fields:
        fields["model"] = model
    if request_type is not None and "request_type" not in fields:
        fields["request_type"] = request_type
    return fields


def _check_tier1_columns(path: Path, columns: list[str], model: str | None, line: int) -> None:
    _refuse_columns(path, columns, TIER1_FIELDS, line)
    required = [*REQUIRED_TIER1_FIELDS, *([] if model is not None else ["model"])]
    missing = [c for c in required if c not in columns]
    if missing:
        raise RequestLogError(f"{path}:{line}: missing column(s) {', '.join(missing)}")


def _read_tier1_csv(path: Path, model: str | None, request_type: str | None) -> Iterator[TokenRecord]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise RequestLogError(f"{path}:1: empty file, expected a header of tier-1 fields")
        _check_tier1_columns(path, [c.strip() for c in reader.fieldnames], model, 1)
        for row in reader:
            line = reader.line_num
            if None in row or any(value is None for value in row.values()):
                raise RequestLogError(f"{path}:{line}: expected {len(reader.fieldnames)} fields")
            fields = {key.strip(): value.strip() for key, value in row.items() if value.strip() != ""}
            yield _record(path, line, _with_defaults(fields, model, request_type))


def _json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each non-blank line of a JSON-lines file as (line number, object); RequestLogError naming the line
    when one is not a JSON object."""
    with path.open() as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                fields = json.loads(text)
            except json.JSONDecodeError as error:
                raise RequestLogError(f"{path}:{line}: not JSON ({error.msg})") from error
            if not isinstance(fields, dict):
                raise RequestLogError(f"{path}:{line}: expected a JSON object per line")
            yield line, fields


def _read_tier1_jsonl(path: Path, model: str | None, request_type: str | None) -> Iterator[TokenRecord]:
    for line, fields in _json_objects(path):
        _check_tier1_columns(path, list(fields), model, line)
        present = {key: value for key, value in fields.items() if value is not None}
        yield _record(path, line, _with_defaults(present, model, request_type))


def read_quality_sample(path: Path) -> list[QualityComparison]:
    """A routing quality sample as JSON lines, one comparison per line (`at`, `request_type`,
    `context_tokens`, `cheap_model`, `verdict`: no_worse or worse); no text is accepted."""
    if not path.is_file():
        raise RequestLogError(f"cannot read {path}: no such file")
    comparisons = []
    for line, fields in _json_objects(path):
        try:
            comparison = QualityComparison.model_validate(fields)
        except ValidationError as error:
            raise RequestLogError(f"{path}:{line}: {_problems(error)}") from error
        comparisons.append(comparison.model_copy(update={"at": _utc(comparison.at)}))
    return comparisons


def read_tier1_log(
    path: Path, *, model: str | None = None, request_type: str | None = None
) -> Iterator[TokenRecord]:
    """A generic tier-1 log (CSV with a header, or JSON lines); `model` and `request_type` fill the records
    that do not name theirs."""
    if path.suffix.lower() in JSON_SUFFIXES:
        return _read_tier1_jsonl(path, model, request_type)
    return _read_tier1_csv(path, model, request_type)


def detect_format(path: Path) -> LogFormat:
    """JSON lines are tier-1; a CSV whose header starts with `TIMESTAMP` is the Azure trace."""
    if path.suffix.lower() in JSON_SUFFIXES:
        return LogFormat.TIER1
    try:
        with path.open(newline="") as handle:
            first = next(csv.reader(handle), [])
    except OSError as error:
        raise RequestLogError(f"cannot read {path}: {error}") from error
    return LogFormat.AZURE if first and first[0].strip() == AZURE_COLUMNS[0] else LogFormat.TIER1


def read_request_log(
    path: Path,
    *,
    log_format: LogFormat = LogFormat.AUTO,
    model: str | None = None,
    request_type: str | None = None,
) -> Iterator[TokenRecord]:
    """The log's records, lazily, in file order. The Azure format needs `model`."""
    if not path.is_file():
        raise RequestLogError(f"no request log at {path}")
    chosen = detect_format(path) if log_format is LogFormat.AUTO else log_format
    if chosen is LogFormat.AZURE:
        if model is None:
            raise RequestLogError(
                f"{path}: the Azure trace names no model: give the model its requests went to"
            )
        return read_azure_trace(path, model=model, request_type=request_type)
    return read_tier1_log(path, model=model, request_type=request_type)
