"""How long `optiinfra --help` and a command that calls the API take, against the interpreter's own start
measured in the same run: each command is run in fresh subprocesses, alternately, and its median wall time
kept. The API call (`optiinfra workloads list`) goes to a loopback port nothing listens on, with a state
dir of its own: it measures everything the command does before an answer (its imports, the settings, the
token, the connection attempt) and ends with its one-line error, as it would with no stack up."""

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

INTERPRETER = (sys.executable, "-c", "pass")
CLI_HELP = (sys.executable, "-m", "optiinfra.cli.main", "--help")
API_CALL = (sys.executable, "-m", "optiinfra.cli.main", "workloads", "list")
NO_ANSWER_EXIT = 1
"""How the API call ends with no API listening: its one-line error."""


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
    api_call: Timing | None = field(default=None)

    @property
    def overhead_s(self) -> float:
        """What the CLI adds to the interpreter's start (medians)."""
        return self.cli.median_s - self.baseline.median_s

    @property
    def ratio(self) -> float:
        return self.cli.median_s / self.baseline.median_s


def wall_time(
    command: Sequence[str], *, env: Mapping[str, str] | None = None, expected_exit: int = 0
) -> float:
    """Seconds one run of `command` takes, output discarded; any other exit than `expected_exit` is a
    CalledProcessError."""
    started = time.perf_counter()
    done = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(env) if env else None
    )
    elapsed = time.perf_counter() - started
    if done.returncode != expected_exit:
        raise subprocess.CalledProcessError(done.returncode, list(command))
    return elapsed


def measure_startup(
    runs: int,
    baseline: Sequence[str] = INTERPRETER,
    cli: Sequence[str] = CLI_HELP,
    api_call: Sequence[str] | None = API_CALL,
) -> StartupFigures:
    """`runs` timed runs of each command, after one untimed run of each (warming the file cache)."""
    from optiinfra.engine.devserver import free_port  # a loopback port nothing listens on

    if runs < 1:
        raise ValueError(f"at least one run, got {runs}")
    with tempfile.TemporaryDirectory(prefix="optiinfra-startup-") as state:
        env = {
            **os.environ,
            "OPTIINFRA_STATE_DIR": state,
            "OPTIINFRA_API_HOST": "127.0.0.1",
            "OPTIINFRA_API_PORT": str(free_port()),
            "OPTIINFRA_API_TOKEN": "startup-measure-token",
        }
        commands: list[tuple[Sequence[str], Mapping[str, str] | None, int]] = [
            (baseline, None, 0),
            (cli, None, 0),
        ]
        if api_call is not None:
            commands.append((api_call, env, NO_ANSWER_EXIT))
        for command, command_env, exit_code in commands:
            wall_time(command, env=command_env, expected_exit=exit_code)
        seconds: list[list[float]] = [[] for _ in commands]
        for _ in range(runs):
            for index, (command, command_env, exit_code) in enumerate(commands):
                seconds[index].append(wall_time(command, env=command_env, expected_exit=exit_code))
    timings = [
        Timing(tuple(command), tuple(taken)) for (command, _, _), taken in zip(commands, seconds, strict=True)
    ]
    return StartupFigures(timings[0], timings[1], timings[2] if api_call is not None else None)


def render(figures: StartupFigures) -> str:
    def line(label: str, timing: Timing) -> str:
        return (
            f"{label:<28} median {timing.median_s:.3f} s, min {timing.min_s:.3f} s, "
            f"{len(timing.seconds)} run(s): python {' '.join(timing.command[1:])}"
        )

    lines = [
        line("interpreter start", figures.baseline),
        line("optiinfra --help", figures.cli),
        f"{'difference':<28} {figures.overhead_s:+.3f} s (the CLI's own start)",
        f"{'ratio':<28} {figures.ratio:.1f}x the interpreter's start",
    ]
    if figures.api_call is not None:
        lines.append(line("API call, no API listening", figures.api_call))
    return "\n".join(lines)
