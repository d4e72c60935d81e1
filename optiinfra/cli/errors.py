"""One-line errors: whatever goes wrong in a command is one line on stderr and an exit code (2: bad input,
1: anything else), never a traceback. `OPTIINFRA_CLI_TRACEBACK=1` lets an unexpected error's traceback
through, for whoever debugs the CLI itself."""

import os
import sys
from collections.abc import Sequence
from typing import Any

import typer
from typer.core import TyperGroup

BAD_INPUT = 2
FAILED = 1
TRACEBACK_ENV = "OPTIINFRA_CLI_TRACEBACK"


def one_line(text: object) -> str:
    """The text with its line breaks and runs of spaces folded into single spaces."""
    return " ".join(str(text).split())


def fail(message: object, code: int = FAILED) -> typer.Exit:
    """Print `error: MESSAGE` on stderr; the caller raises the Exit returned (`raise fail(...)`)."""
    typer.echo(f"error: {one_line(message)}", err=True)
    return typer.Exit(code)


def tracebacks_wanted() -> bool:
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0")


class OneLineErrorGroup(TyperGroup):
    """The root command: usage errors (an unknown option, a value outside its choices) and unexpected
    exceptions reach the user as one line instead of a usage panel or a traceback."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            returned = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except typer.TyperException as error:  # typer's click exceptions: usage errors, bad files
            _report_usage_error(error)
            sys.exit(error.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(FAILED)
        except Exception as error:
            if tracebacks_wanted():
                raise
            typer.echo(
                f"error: unexpected {type(error).__name__}: {one_line(error)} "
                f"({TRACEBACK_ENV}=1 shows the traceback)",
                err=True,
            )
            sys.exit(FAILED)
        # Not standalone, typer returns an Exit's code, or the command's own return value (None).
        sys.exit(returned if isinstance(returned, int) else 0)


def _report_usage_error(error: typer.TyperException) -> None:
    # A group run without a command has already printed its help (typer itself tells this case by name).
    if type(error).__name__ == "NoArgsIsHelpError":
        if message := error.format_message().strip():
            typer.echo(message, err=True)
        return
    context = getattr(error, "ctx", None)
    hint = f" (see '{context.command_path} --help')" if context is not None else ""
    typer.echo(f"error: {one_line(error.format_message())}{hint}", err=True)
