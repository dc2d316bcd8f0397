"""Shared CLI output: JSON for scripts, rich tables for people, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from harborctl.errors import HarborHookError

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None
) -> None:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
    console.print(table)


def emit(
    data: Any,
    as_json: bool,
    human: Callable[[], None],
) -> None:
    """Print ``data`` as JSON when asked, else call the human renderer."""
    if as_json:
        print_json(data)
    else:
        human()


def fail(message: str, exit_code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn the project's errors into one line on stderr and a meaningful exit code."""
    try:
        yield
    except HarborHookError as exc:
        fail(str(exc), exc.exit_code)
