"""Loader for the Azure LLM inference trace 2023 (Splitwise, ISCA 2024): real sub-second arrivals with
prompt and output lengths, the source for burstiness and token-length mixes."""

from __future__ import annotations

import csv
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from optiinfra.sim.traffic.models import Request, TraceFormatError, parse_int

AZURE_HEADER = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def load_azure_trace(path: Path | str) -> list[Request]:
    """The trace's requests in order, with arrivals in seconds after the first request."""
    path = Path(path)
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        _expect_header(path, next(reader, None))
        rows = [(reader.line_num, *_parse_row(path, reader.line_num, fields)) for fields in reader]
    if not rows:
        raise TraceFormatError(path, 2, "the trace has no requests")
    _expect_chronological(path, [(line, stamp) for line, stamp, _, _ in rows])
    first = rows[0][1]
    return [
        Request(arrival_s=(stamp - first).total_seconds(), prompt_tokens=prompt, output_tokens=output)
        for _, stamp, prompt, output in rows
    ]


def _expect_header(path: Path, header: list[str] | None) -> None:
    if header is None:
        raise TraceFormatError(path, 1, "file is empty")
    if tuple(field.strip() for field in header) != AZURE_HEADER:
        raise TraceFormatError(
            path, 1, f"header is {','.join(header)!r}, expected {','.join(AZURE_HEADER)!r}"
        )


def _expect_chronological(path: Path, stamps: list[tuple[int, datetime]]) -> None:
    """Arrivals are relative to the first row, so a row earlier than its predecessor would go negative."""
    for (_, previous), (line, stamp) in pairwise(stamps):
        if stamp < previous:
            raise TraceFormatError(
                path, line, f"TIMESTAMP {stamp} is earlier than the previous row's {previous}"
            )


def _parse_row(path: Path, line: int, fields: list[str]) -> tuple[datetime, int, int]:
    if len(fields) != len(AZURE_HEADER):
        raise TraceFormatError(path, line, f"expected {len(AZURE_HEADER)} fields, got {len(fields)}")
    try:
        stamp = datetime.fromisoformat(fields[0].strip())
    except ValueError:
        raise TraceFormatError(path, line, f"TIMESTAMP is not a date-time: {fields[0]!r}") from None
    prompt = parse_int(fields[1], path, line, "ContextTokens")
    output = parse_int(fields[2], path, line, "GeneratedTokens")
    return stamp, prompt, output
