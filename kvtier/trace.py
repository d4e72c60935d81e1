"""Loader for request traces in the Mooncake format (FAST'25 release).

One JSON object per line, in arrival order:
`{"timestamp": <ms>, "input_length": <tokens>, "output_length": <tokens>, "hash_ids": [<int>, ...]}`,
where each hash id names one 512-token prefix block: two requests share their first n ids exactly when
their prompts share the first n x 512 tokens. Blank lines are ignored; anything else malformed is an
error naming the line, since a silently skipped line would change every hit rate computed from the trace.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BLOCK_TOKENS = 512
"""Tokens per prefix block in the Mooncake traces."""

FIELDS = ("timestamp", "input_length", "output_length", "hash_ids")


class TraceFormatError(ValueError):
    """A line of a trace file is not a valid request."""

    def __init__(self, path: Path, line: int, problem: str) -> None:
        super().__init__(f"{path}:{line}: {problem}")
        self.path = path
        self.line = line
        self.problem = problem


@dataclass(frozen=True, slots=True)
class TraceRequest:
    timestamp_ms: float
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...]
    """The request's prompt as a chain of prefix blocks, head first."""


def load_mooncake(path: Path | str, limit: int | None = None) -> list[TraceRequest]:
    """The trace's requests in file order (at most `limit`). Timestamps must not go backwards, every field
    must be present and well typed; hash ids are non-negative integers."""
    path = Path(path)
    requests: list[TraceRequest] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(requests) >= limit:
                break
            if not line.strip():
                continue
            request = _parse(path, number, line)
            if requests and request.timestamp_ms < requests[-1].timestamp_ms:
                raise TraceFormatError(path, number, "timestamp is earlier than the previous request's")
            requests.append(request)
    return requests


def block_chains(requests: list[TraceRequest]) -> list[tuple[int, ...]]:
    """Each request's hash ids, the form the replays take."""
    return [request.hash_ids for request in requests]


def _parse(path: Path, line: int, text: str) -> TraceRequest:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise TraceFormatError(path, line, f"not valid JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise TraceFormatError(path, line, f"expected a JSON object, got {type(record).__name__}")
    missing = [field for field in FIELDS if field not in record]
    if missing:
        raise TraceFormatError(path, line, f"missing field(s): {', '.join(missing)}")
    timestamp = record["timestamp"]
    if not _is_number(timestamp) or not math.isfinite(timestamp) or timestamp < 0:
        raise TraceFormatError(path, line, f"timestamp must be non-negative milliseconds, got {timestamp!r}")
    hash_ids = record["hash_ids"]
    if not isinstance(hash_ids, list) or not all(_is_int(item) and item >= 0 for item in hash_ids):
        raise TraceFormatError(path, line, f"hash_ids must be a list of non-negative integers: {hash_ids!r}")
    if len(set(hash_ids)) != len(hash_ids):
        raise TraceFormatError(path, line, "hash_ids repeats a block: a prefix chain cannot contain itself")
    return TraceRequest(
        timestamp_ms=float(timestamp),
        input_length=_count(path, line, "input_length", record["input_length"]),
        output_length=_count(path, line, "output_length", record["output_length"]),
        hash_ids=tuple(hash_ids),
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(path: Path, line: int, field: str, value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise TraceFormatError(path, line, f"{field} must be a non-negative integer, got {value!r}")
    return int(value)
