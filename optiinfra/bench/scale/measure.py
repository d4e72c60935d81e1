"""What the scale benchmark reads off the processes and the engine: a process's CPU time (Linux /proc),
histogram sums on a Prometheus endpoint, and percentiles."""

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

PROC = Path("/proc")
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU of process `pid` and of its children it has waited for, in seconds."""
    stat = (PROC / str(pid) / "stat").read_text()
    # The command name (field 2) is in parentheses and may hold spaces: count fields after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def histogram_totals(exposition: str, name: str, label: str) -> dict[str, tuple[float, float]]:
    """Per value of `label`: (sum, count) of histogram `name` in a Prometheus text exposition, added up
    over its other labels."""
    totals: dict[str, list[float]] = {}
    for line in exposition.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match["name"] not in (f"{name}_sum", f"{name}_count"):
            continue
        labels = {m["key"]: m["value"] for m in _LABEL.finditer(match["labels"] or "")}
        if label not in labels:
            continue
        entry = totals.setdefault(labels[label], [0.0, 0.0])
        entry[0 if match["name"].endswith("_sum") else 1] += float(match["value"])
    return {key: (total, count) for key, (total, count) in totals.items()}


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`-th percentile (0 < q <= 100) of `values`; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
