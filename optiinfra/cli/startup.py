"""How long `optiinfra --help` takes, against the interpreter's own start measured in the same run: each
command is run in fresh subprocesses, alternately, and its median wall time kept."""

import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

INTERPRETER = (sys.executable, "-c", "pass")
CLI_HELP = (sys.executable, "-m", "optiinfra.cli.main", "--help")


@dataclass(frozen=True)
class Timing:
    command: tuple[str, ...]
    seconds: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def min_s(self) -> float:
        return min(self.seconds)


@dataclass(frozen=True)
class StartupFigures:
    baseline: Timing
    cli: Timing

    @property
    def overhead_s(self) -> float:
        """What the CLI adds to the interpreter's start (medians)."""
        return self.cli.median_s - self.baseline.median_s

    @property
    def ratio(self) -> float:
        return self.cli.median_s / self.baseline.median_s


def wall_time(command: Sequence[str]) -> float:
    """Seconds one run of `command` takes, output discarded; a failing command is a CalledProcessError."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure_startup(
    runs: int, baseline: Sequence[str] = INTERPRETER, cli: Sequence[str] = CLI_HELP
) -> StartupFigures:
    """`runs` timed runs of each command, after one untimed run of each (warming the file cache)."""
    if runs < 1:
        raise ValueError(f"at least one run, got {runs}")
    wall_time(baseline)
    wall_time(cli)
    baseline_s: list[float] = []
    cli_s: list[float] = []
    for _ in range(runs):
        baseline_s.append(wall_time(baseline))
        cli_s.append(wall_time(cli))
    return StartupFigures(Timing(tuple(baseline), tuple(baseline_s)), Timing(tuple(cli), tuple(cli_s)))


def render(figures: StartupFigures) -> str:
    def line(label: str, timing: Timing) -> str:
        return (
            f"{label:<28} median {timing.median_s:.3f} s, min {timing.min_s:.3f} s, "
            f"{len(timing.seconds)} run(s): python {' '.join(timing.command[1:])}"
        )

    return "\n".join(
        [
            line("interpreter start", figures.baseline),
            line("optiinfra --help", figures.cli),
            f"{'difference':<28} {figures.overhead_s:+.3f} s (the CLI's own start)",
            f"{'ratio':<28} {figures.ratio:.1f}x the interpreter's start",
        ]
    )
