"""The scale benchmark's report as text: one column per run, and the targets met or not."""

from optiinfra.bench.scale.run import ScaleReport

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
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = [
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row))
        for row in lines
    ]
    text.append("")
    text.append(f"analysis: {report.options.analysis}; machine: {report.cpus} CPUs")
    for run in runs:
        for target, met in run.targets().items():
            text.append(f"{run.worker_processes} process(es): {target}: {'met' if met else 'NOT met'}")
    return "\n".join(text)


def _figure(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
