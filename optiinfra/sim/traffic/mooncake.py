"""Loader for the Mooncake FAST'25 conversation trace: arrivals, lengths and 512-token prefix block hashes,
the source for KV-cache reuse."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from optiinfra.sim.traffic.models import Request, TraceFormatError

MOONCAKE_FIELDS = ("timestamp", "input_length", "output_length", "hash_ids")


def load_mooncake_trace(path: Path | str) -> list[Request]:
    """One request per JSON line, in arrival order (prefix reuse depends on it); the millisecond timestamps
    become seconds. Blank lines are ignored."""
    path = Path(path)
    requests: list[Request] = []
    with path.open() as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            request = _parse_line(path, line_number, line)
            if requests and request.arrival_s < requests[-1].arrival_s:
                raise TraceFormatError(path, line_number, "timestamp is earlier than the previous request's")
            requests.append(request)
    if not requests:
        raise TraceFormatError(path, 1, "the trace has no requests")
    return requests


def _parse_line(path: Path, line: int, text: str) -> Request:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise TraceFormatError(path, line, f"not valid JSON: {error.msg}") from None
    if not isinstance(record, dict):
        raise TraceFormatError(path, line, "expected a JSON object")
    missing = [field for field in MOONCAKE_FIELDS if field not in record]
    if missing:
        raise TraceFormatError(path, line, f"missing {', '.join(missing)}")
    return Request(
        arrival_s=_timestamp_ms(path, line, record["timestamp"]) / 1000.0,
        prompt_tokens=_count(path, line, "input_length", record["input_length"]),
        output_tokens=_count(path, line, "output_length", record["output_length"]),
        block_hashes=_hash_ids(path, line, record["hash_ids"]),
    )


def _timestamp_ms(path: Path, line: int, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise TraceFormatError(path, line, f"timestamp must be non-negative milliseconds, got {value!r}")
    return float(value)


def _count(path: Path, line: int, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TraceFormatError(path, line, f"{field} must be a non-negative integer, got {value!r}")
    return value


def _hash_ids(path: Path, line: int, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or any(
        isinstance(item, bool) or not isinstance(item, int) for item in value
    ):
        raise TraceFormatError(path, line, "hash_ids must be a list of integers")
    return tuple(value)
