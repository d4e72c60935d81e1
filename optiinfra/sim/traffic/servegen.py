"""Loaders for the ServeGen m-large rate series (Alibaba Bailian production, 14 days in 10-minute windows):
the fleet-wide total, and the per-client series with each window's fitted arrival distribution."""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic.models import TraceFormatError, parse_float, parse_int

AGGREGATE_HEADER = ("timestamp_s", "total_rate_rps", "active_clients")
CLIENT_FIELDS = ("timestamp_s", "rate_rps", "cv", "arrival_dist", "arg1", "arg2")
CLIENT_FILE = re.compile(r"chunk-(\d+)-trace\.csv")


@dataclass(frozen=True, slots=True)
class ClientWindow:
    """One client's window: its rate, the CV of its inter-arrivals, and the distribution ServeGen fitted to
    them (`arg1`, `arg2` as ServeGen gives them; for Gamma they are shape and scale in seconds). An idle
    window has rate 0 and no distribution."""

    start_s: float
    duration_s: float
    rate_rps: float
    cv: float
    arrival_dist: str | None
    arg1: float
    arg2: float


def load_servegen_aggregate(path: Path | str) -> list[RateWindow]:
    """The total request rate per window; the window length is the (constant) step between timestamps."""
    path = Path(path)
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        _expect_header(path, next(reader, None), AGGREGATE_HEADER)
        rows = [(reader.line_num, _aggregate_row(path, reader.line_num, fields)) for fields in reader]
    window_s = _window_length(path, [(line, start) for line, (start, _) in rows])
    return [RateWindow(start_s=start, duration_s=window_s, rate_rps=rate) for _, (start, rate) in rows]


def load_servegen_clients(folder: Path | str) -> dict[int, list[ClientWindow]]:
    """Every `chunk-N-trace.csv` in the folder, keyed by client number N."""
    folder = Path(folder)
    paths = {int(match[1]): path for path in folder.iterdir() if (match := CLIENT_FILE.fullmatch(path.name))}
    if not paths:
        raise FileNotFoundError(f"no chunk-N-trace.csv files in {folder}")
    return {client: _load_client(paths[client]) for client in sorted(paths)}


def load_servegen_client(path: Path | str) -> list[RateWindow]:
    """One client's rate series (a `chunk-N-trace.csv`), its idle windows at rate 0."""
    return [RateWindow(w.start_s, w.duration_s, w.rate_rps) for w in _load_client(Path(path))]


def aggregate_clients(clients: Mapping[int, Sequence[ClientWindow]]) -> list[RateWindow]:
    """The fleet-wide rate series: the clients' rates summed window by window."""
    totals: dict[tuple[float, float], float] = {}
    for windows in clients.values():
        for window in windows:
            key = (window.start_s, window.duration_s)
            totals[key] = totals.get(key, 0.0) + window.rate_rps
    return [
        RateWindow(start_s=start, duration_s=duration, rate_rps=rate)
        for (start, duration), rate in sorted(totals.items())
    ]


def _load_client(path: Path) -> list[ClientWindow]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        rows = [(reader.line_num, _client_row(path, reader.line_num, fields)) for fields in reader]
    window_s = _window_length(path, [(line, row[0]) for line, row in rows])
    return [
        ClientWindow(start, window_s, rate, cv, dist, arg1, arg2)
        for _, (start, rate, cv, dist, arg1, arg2) in rows
    ]


def _expect_header(path: Path, header: list[str] | None, expected: tuple[str, ...]) -> None:
    if header is None:
        raise TraceFormatError(path, 1, "file is empty")
    if tuple(field.strip() for field in header) != expected:
        raise TraceFormatError(path, 1, f"header is {','.join(header)!r}, expected {','.join(expected)!r}")


def _expect_field_count(path: Path, line: int, fields: list[str], expected: int) -> None:
    if len(fields) != expected:
        raise TraceFormatError(path, line, f"expected {expected} fields, got {len(fields)}")


def _aggregate_row(path: Path, line: int, fields: list[str]) -> tuple[float, float]:
    _expect_field_count(path, line, fields, len(AGGREGATE_HEADER))
    start = parse_float(fields[0], path, line, "timestamp_s")
    rate = _non_negative(parse_float(fields[1], path, line, "total_rate_rps"), path, line, "total_rate_rps")
    parse_int(fields[2], path, line, "active_clients")
    return start, rate


def _client_row(
    path: Path, line: int, fields: list[str]
) -> tuple[float, float, float, str | None, float, float]:
    _expect_field_count(path, line, fields, len(CLIENT_FIELDS))
    start = parse_float(fields[0], path, line, "timestamp_s")
    rate = _non_negative(parse_float(fields[1], path, line, "rate_rps"), path, line, "rate_rps")
    cv = _non_negative(parse_float(fields[2], path, line, "cv"), path, line, "cv")
    dist = fields[3].strip() or None
    if dist is not None and not dist.isidentifier():
        raise TraceFormatError(path, line, f"arrival_dist is not a distribution name: {dist!r}")
    return (
        start,
        rate,
        cv,
        dist,
        parse_float(fields[4], path, line, "arg1"),
        parse_float(fields[5], path, line, "arg2"),
    )


def _non_negative(value: float, path: Path, line: int, field: str) -> float:
    if value < 0:
        raise TraceFormatError(path, line, f"{field} is negative: {value}")
    return value


def _window_length(path: Path, starts: Sequence[tuple[int, float]]) -> float:
    """The constant step between consecutive window starts; a gap or a step back is a format error."""
    if len(starts) < 2:
        raise TraceFormatError(
            path, starts[0][0] if starts else 1, "need at least two windows to know their length"
        )
    step = starts[1][1] - starts[0][1]
    if step <= 0:
        raise TraceFormatError(path, starts[1][0], "timestamps must increase")
    for (_, previous), (line, start) in pairwise(starts):
        if abs(start - previous - step) > 1e-6 * step:
            raise TraceFormatError(
                path, line, f"window starts {start - previous:g} s after the previous, not {step:g} s"
            )
    return step
