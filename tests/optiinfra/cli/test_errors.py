"""Whatever goes wrong, the CLI says it in one line on stderr with exit code 2 (bad input) or 1, never with a
usage panel or a traceback."""

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner, Result

from optiinfra.cli.errors import TRACEBACK_ENV, OneLineErrorGroup, fail
from optiinfra.cli.main import app
from optiinfra.domain.enums import RecommendationStatus


def _one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and not result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_bad_status_lists_the_valid_ones() -> None:
    said = _one_line_error(CliRunner().invoke(app, ["recommendations", "list", "--status", "pending"]), 2)
    assert "'pending'" in said and "recommendations list --help')" in said
    assert all(f"'{status.value}'" in said for status in RecommendationStatus)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["no-such-command"], "No such command 'no-such-command'"),
        (["recommendations", "show"], "Missing argument"),
        (["bench", "twin", "--days", "0"], "must be above 0"),
        (["bench", "kvtier", "--no-such-option"], "No such option: --no-such-option"),
        (["catalog", "list", "--region", "mars-1"], "region mars-1 is not in the catalog"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], says: str) -> None:
    assert says in _one_line_error(CliRunner().invoke(app, args), 2)


def _explode() -> None:
    """A command with a bug in it."""
    raise RuntimeError("something\nbroke")


def _refuse() -> None:
    """A command that refuses its input."""
    raise fail("not like this", 2)


def _app_with_broken_commands() -> typer.Typer:
    broken = typer.Typer(cls=OneLineErrorGroup)
    broken.command("explode")(_explode)
    broken.command("refuse")(_refuse)
    return broken


def test_an_unexpected_error_is_one_line_unless_the_traceback_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = _app_with_broken_commands()
    said = _one_line_error(CliRunner().invoke(broken, ["explode"]), 1)
    assert said == f"error: unexpected RuntimeError: something broke ({TRACEBACK_ENV}=1 shows the traceback)"
    assert _one_line_error(CliRunner().invoke(broken, ["refuse"]), 2) == "error: not like this"
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    raised = CliRunner().invoke(broken, ["explode"])
    assert isinstance(raised.exception, RuntimeError)


def test_the_console_entry_point_gives_one_line_too() -> None:
    """Through `python -m optiinfra.cli.main`, as a user runs it (typer's own handler is not in the way)."""
    ran = subprocess.run(
        [sys.executable, "-m", "optiinfra.cli.main", "bench", "twin", "--trace", "/no/such/trace.csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 2 and ran.stdout == ""
    assert ran.stderr.strip() == "error: no trace at /no/such/trace.csv"
