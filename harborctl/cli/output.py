"""Shared CLI output: JSON for scripts, rich tables for people, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from harborctl.errors import HarborHookError

console = Console()
err_console = Console(stderr=True)

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")

# connection options shared by the command groups that talk to the ingest HTTP API
ApiUrlOption = typer.Option(
    None,
    "--api-url",
    envvar="HARBORHOOK_API_URL",
    show_envvar=True,
    help="Base URL of the ingest API (default http://127.0.0.1:8080, or api_url in the config).",
)
ApiKeyOption = typer.Option(
    None,
    "--api-key",
    envvar="HARBORHOOK_API_KEY",
    show_envvar=True,
    help="The tenant's API key (falls back to the admin key).",
)
TenantOption = typer.Option(
    None,
    "--tenant",
    envvar="HARBORHOOK_TENANT_ID",
    show_envvar=True,
    help="Tenant id (from `harborctl tenants create`). Required.",
)


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


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn the project's errors into one line on stderr and a meaningful exit code."""
    try:
        yield
    except HarborHookError as exc:
        fail(str(exc), exc.exit_code)


def require_tenant(tenant: str | None) -> str:
    """The tenant id from --tenant / HARBORHOOK_TENANT_ID, or one clear error (exit code 2)."""
    if not tenant or not tenant.strip():
        fail("no tenant given: pass --tenant TENANT_ID or set HARBORHOOK_TENANT_ID", 2)
    return tenant.strip()
