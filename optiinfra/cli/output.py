"""How list commands print: a table with a header for people, or `--json` for programs."""

import json
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

AsJson = Annotated[bool, typer.Option("--json", help="Print a JSON array instead of a table")]

PIPED_WIDTH = 200
"""Columns of a table written to a pipe or a file (no terminal to fit): wide enough to keep rows whole."""


def print_json(items: Sequence[Any]) -> None:
    """Items as one JSON array; pydantic models in their JSON form."""
    typer.echo(json.dumps([_plain(item) for item in items], indent=2))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str) -> None:
    """A table under a header row; `empty` alone when there are no rows."""
    if not rows:
        typer.echo(empty)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    # A pipe or a file has no width to fit (and a COLUMNS left in the environment by whatever ran before
    # says nothing about it): rows stay whole.
    piped = not sys.stdout.isatty()
    Console(width=PIPED_WIDTH if piped else None, highlight=False, markup=False).print(table)


def _plain(item: Any) -> Any:
    dump = getattr(item, "model_dump", None)
    return dump(mode="json") if callable(dump) else item
