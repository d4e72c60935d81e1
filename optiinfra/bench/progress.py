"""What a long benchmark tells its caller as it goes: one short sentence per stage ("Planning workload 3 of
40"), heard by a callback. The command shows them on stderr (a live display on a terminal, timed lines
otherwise, nothing with --quiet); the benchmark's figures never depend on it."""

from collections.abc import Callable

StageCallback = Callable[[str], None]


def no_stages(text: str) -> None:
    """Hears nothing: the default, for callers that show no progress."""
