"""The scale benchmark's report as text: one column per run, and the targets met or not."""

from optiinfra.bench.scale.run import ScaleReport, ScaleRun

SCAN_EVERY_MINUTES = (5, 15, 60)
TARGET_UTILIZATION = 0.7
"""A worker process is sized to be busy this share of the time: a Python process runs on one core at a
time, and the headroom absorbs bursts (a scan's children all start together)."""

ROWS = (
    ("workloads", "workloads"),
    ("customers", "customers"),
    ("optimizations per minute", "optimizations_per_minute"),
    ("fleet scan, s", "fleet_scan_seconds"),
    ("scan listing, s", "scan_listing_seconds"),
    ("orchestration CPU per optimization, s", "orchestration_cpu_seconds_per_optimization"),
    ("activity CPU per optimization, s", "activity_cpu_seconds_per_optimization"),
    ("history bytes per optimization, p95", "history_bytes_per_optimization_p95"),
    ("history bytes, max", "history_bytes_max"),
    ("agent runs", "agent_runs"),
    ("waiting for approval", "waiting_for_approval"),
    ("unsuccessful runs", "unsuccessful_runs"),
    ("scan runs (continued as new)", "scan_runs"),
)


def render(report: ScaleReport) -> str:
    runs = report.runs
    header = ["", *(f"{run.worker_processes} process(es)" for run in runs)]
    lines: list[list[str]] = [header]
    for label, field in ROWS:
        lines.append([label, *(_figure(getattr(run, field)) for run in runs)])
    agents = sorted({agent for run in runs for agent in run.analysis_cpu_seconds_per_optimization})
    for agent in agents:
        lines.append(
            [
                f"analysis CPU per optimization, {agent}, s",
                *(_figure(run.analysis_cpu_seconds_per_optimization.get(agent, 0.0)) for run in runs),
            ]
        )
    for group in sorted({group for run in runs for group in run.cpu_seconds_per_optimization_by_group}):
        lines.append(
            [
                f"CPU per optimization, {group} workers, s",
                *(_figure(run.cpu_seconds_per_optimization_by_group.get(group, 0.0)) for run in runs),
            ]
        )
    text = _table(lines)
    text.append("")
    text.append(f"analysis: {report.options.analysis}; machine: {report.cpus} CPUs")
    for run in runs:
        for target, met in run.targets().items():
            text.append(f"{run.worker_processes} process(es): {target}: {'met' if met else 'NOT met'}")
    text.append("")
    text.extend(render_sizing(runs[0]))
    return "\n".join(text)


def processes_per_thousand(cpu_seconds_per_optimization: float, scan_every_minutes: float) -> float:
    """Worker processes a kind needs per 1,000 workloads scanned every `scan_every_minutes`: the CPU a
    scan's optimizations take, spread over the interval, at the target utilization of a one-core process."""
    return 1000 * cpu_seconds_per_optimization / (scan_every_minutes * 60 * TARGET_UTILIZATION)


def render_sizing(run: ScaleRun) -> list[str]:
    """Worker processes per 1,000 workloads, per kind, for scans every 5, 15 and 60 minutes (from the
    CPU measured with one process of each kind)."""
    groups = sorted(run.cpu_seconds_per_optimization_by_group)
    header = ["processes per 1,000 workloads", *(f"scan every {m} min" for m in SCAN_EVERY_MINUTES)]
    rows = [header] + [
        [
            f"{group} workers",
            *(
                f"{processes_per_thousand(run.cpu_seconds_per_optimization_by_group[group], m):.2f}"
                for m in SCAN_EVERY_MINUTES
            ),
        ]
        for group in groups
    ]
    return _table(rows)


def _table(rows: list[list[str]]) -> list[str]:
    """Rows as aligned text: the first column left, the others right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in rows
    ]


def _figure(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
