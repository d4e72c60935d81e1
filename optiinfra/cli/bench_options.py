"""What the `optiinfra bench` commands share: their common options and how their failures read."""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from optiinfra.cli.choices import TruthChoice
from optiinfra.cli.errors import BAD_INPUT, FAILED, fail, tracebacks_wanted

DataDir = Annotated[
    Path | None,
    typer.Option(
        help="The shared data set of real traces and prices (default: OPTIINFRA_DATA_DIR, ../shared/data)"
    ),
]
JsonFile = Annotated[Path | None, typer.Option("--json", help="Also write every figure to this JSON file")]
Seed = Annotated[int, typer.Option(help="Seed of every random draw: the same seed gives the same figures")]
NoPeers = Annotated[
    bool,
    typer.Option(
        "--no-peers",
        help="Leave the peers out (they run in their own environments: `optiinfra bench peers --setup`)",
    ),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="Show no progress on stderr: the figures alone on stdout")
]
Truth = Annotated[
    TruthChoice,
    typer.Option(
        help="What the replayed replicas behave by: NVIDIA's silicon-measured reference where it covers the "
        "GPU, or the roofline prior the planner sizes with"
    ),
]


def positive(value: float | None) -> float | None:
    """A typer callback: the option, when given, must be above zero."""
    if value is not None and not value > 0:
        raise typer.BadParameter(f"must be above 0, got {value:g}")
    return value


def data_dir_or_configured(data_dir: Path | None) -> Path:
    from optiinfra.settings import get_settings

    return data_dir if data_dir is not None else get_settings().data_dir


@contextmanager
def bench_failures() -> Iterator[None]:
    """A benchmark's failures as one line: input it cannot use (a missing or malformed file, an impossible
    setting) exits 2, a peer that cannot run exits 1."""
    from optiinfra.bench.peers.environment import PeerEnvironmentError
    from optiinfra.bench.peers.process import PeerError

    try:
        yield
    except (PeerEnvironmentError, PeerError) as error:
        if tracebacks_wanted():
            raise
        raise fail(error, FAILED) from error
    except (OSError, ValueError) as error:  # missing files (BenchDataError), TraceFormatError, bad settings
        if tracebacks_wanted():
            raise
        raise fail(error, BAD_INPUT) from error


@contextmanager
def bench_progress(*, quiet: bool) -> Iterator[Callable[[str], None]]:
    """The stage callback a benchmark reports to: its stages on stderr as it goes (a live display with each
    stage's time on a terminal, one timed line per stage otherwise; nothing when `quiet`), and the total
    time when it ends. stdout keeps the figures alone."""
    from optiinfra.cli.progress import progress_on_stderr

    started = time.monotonic()
    with progress_on_stderr(show=not quiet) as progress:
        yield progress.stage
        progress.finish(f"Done in {time.monotonic() - started:.1f} s")
