"""Progress of a long command on stderr, so that stdout stays its result: on a terminal a live display
(each stage with its time, a spinner on the current one, a table of the workloads and their phases); on a
pipe or in a log, one line per stage and per change. Both are `FleetProgress`es."""

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from optiinfra.cli.run_once import WorkloadProgress

Clock = Callable[[], float]


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _series(text: str) -> str | None:
    """What a counted stage's text says before its first figure ("Planned " of "Planned 3 of 40 ..."), or
    None for a stage without figures."""
    for index, char in enumerate(text):
        if char.isdigit():
            return text[:index] if index else None
    return None


class _Stages:
    """Stages as they start and end, timed. A counted stage that follows one of the same series ("Planned
    2 of 40" after "Planned 1 of 40") takes its place rather than ending it: one line, timed from the
    series' start, however many items the series counts."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.started = clock()
        self.done: list[tuple[str, float]] = []
        self.current: tuple[str, float] | None = None

    def start(self, text: str) -> None:
        if self.current is not None:
            current, since = self.current
            series = _series(text)
            if series is not None and series == _series(current):
                self.current = (text, since)
                return
        self.end()
        self.current = (text, self._clock())

    def end(self) -> None:
        if self.current is not None:
            text, since = self.current
            self.done.append((text, self._clock() - since))
            self.current = None

    def elapsed(self) -> float:
        return self._clock() - self.started

    def current_seconds(self) -> float:
        return self._clock() - self.current[1] if self.current is not None else 0.0


class LineProgress:
    """One line per stage and per change of a workload, each after the seconds since the start."""

    def __init__(self, stream: TextIO | None = None, *, clock: Clock = time.monotonic) -> None:
        self._stream = stream
        self._stages = _Stages(clock)

    def stage(self, text: str) -> None:
        self._stages.start(text)
        self._line(text)

    def workload(self, progress: "WorkloadProgress") -> None:
        self._line(f"  {progress.workload}: {progress.phase} - {progress.detail}")

    def finish(self, summary: str) -> None:
        self._stages.end()
        self._line(summary)

    def _line(self, text: str) -> None:
        stream = self._stream or sys.stderr
        stream.write(f"[{self._stages.elapsed():6.1f}s] {text}\n")
        stream.flush()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class LiveProgress:
    """A live display on a terminal: finished stages with their times, the current one with a spinner,
    and the workloads' table; what it last showed stays on screen."""

    def __init__(self, console: "Console", *, clock: Clock = time.monotonic) -> None:
        from rich.live import Live

        self._stages = _Stages(clock)
        self._rows: dict[str, WorkloadProgress] = {}
        self._summary: str | None = None
        self._live: Live = Live(
            console=console, get_renderable=self._render, refresh_per_second=8, transient=False
        )

    def stage(self, text: str) -> None:
        self._stages.start(text)
        self._live.refresh()

    def workload(self, progress: "WorkloadProgress") -> None:
        self._rows[progress.workload] = progress
        self._live.refresh()

    def finish(self, summary: str) -> None:
        self._stages.end()
        self._summary = summary
        self._live.refresh()

    def __enter__(self) -> "LiveProgress":
        self._live.start(refresh=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stages.end()
        self._live.stop()

    def _render(self) -> "RenderableType":
        from rich import box
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        parts: list[RenderableType] = [
            Text.assemble(("✓ ", "green"), text, (f"  {_seconds(seconds)}", "dim"))
            for text, seconds in list(self._stages.done)
        ]
        if self._stages.current is not None:
            text, _ = self._stages.current
            parts.append(Spinner("dots", Text(f"{text}  {_seconds(self._stages.current_seconds())}")))
        if self._rows:
            table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            for column in ("", "Workload", "Phase", "Doing"):
                table.add_column(column, overflow="fold")
            for row in list(self._rows.values()):
                mark = Text("✓", "green") if row.settled else Spinner("dots", style="cyan")
                table.add_row(mark, row.workload, row.phase, row.detail)
            parts.append(table)
        if self._summary is not None:
            parts.append(Text(self._summary, "bold"))
        return Group(*parts)


class NoProgress:
    """Shows nothing (`--quiet`, `--json`)."""

    def stage(self, text: str) -> None:
        pass

    def workload(self, progress: "WorkloadProgress") -> None:
        pass

    def finish(self, summary: str) -> None:
        pass

    def __enter__(self) -> "NoProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        pass


Progress = LineProgress | LiveProgress | NoProgress


def progress_on_stderr(*, show: bool) -> Progress:
    """A live display when stderr is a terminal, lines otherwise; nothing unless `show`."""
    if not show:
        return NoProgress()
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    if console.is_terminal and not console.is_dumb_terminal:
        return LiveProgress(console)
    return LineProgress()
