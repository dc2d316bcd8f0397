"""Shared CLI output: JSON for scripts, rich tables for people, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from harborctl.errors import HarborHookError

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str | None = None
) -> None:
    # min_width: a title never wraps over a narrow table
    table = Table(title=title, show_lines=False, min_width=len(title) + 4 if title else None)
    for column in columns:
        table.add_column(column, overflow="fold")  # ids are copied from here: never cut them
    for row in rows:
        # cells are data, shown verbatim: never parsed as rich markup
        table.add_row(*(Text("" if row.get(c) is None else str(row.get(c))) for c in columns))
    if console.is_terminal:
        console.print(table)
        return
    # piped: as wide as the data, one line per row, so grep and cut work
    wide = console.options.update_width(10_000)
    width = max(console.width, Measurement.get(console, wide, table).maximum)
    Console(width=width, highlight=False).print(table)


def print_fields(fields: Mapping[str, Any]) -> None:
    """Print ``name: value`` lines, names aligned, values verbatim (a record for people)."""
    width = max((len(name) for name in fields), default=0)
    for name, value in fields.items():
        shown = "" if value is None else str(value)
        console.print(f"{name + ':':<{width + 1}} {escape(shown)}", highlight=False, soft_wrap=True)


def note(message: str) -> None:
    """A hint or warning for people, on stderr so it never pollutes piped output."""
    err_console.print(escape(message), style="yellow", highlight=False, soft_wrap=True)


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
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code)


class OneLineErrors(TyperGroup):
    """The root command group: a project error (``HarborHookError``) escaping any command
    ends as one line on stderr and the error's own exit code, never a traceback.

    The one place the CLI catches the project's errors: every command runs inside the root
    group's ``invoke``, so commands just let errors propagate.
    """

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's (vendored click) Context
        try:
            return super().invoke(ctx)
        except HarborHookError as exc:
            fail(str(exc), exc.exit_code)


def require_tenant(tenant: str | None) -> str:
    """The tenant id from --tenant / HARBORHOOK_TENANT_ID, or one clear error (exit code 2)."""
    if not tenant or not tenant.strip():
        fail("no tenant given: pass --tenant TENANT_ID or set HARBORHOOK_TENANT_ID", 2)
    return tenant.strip()
