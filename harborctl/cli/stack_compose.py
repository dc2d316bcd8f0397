"""harborctl up/down/status in compose mode: the compose stack through ``docker compose``.

Called by ``harborctl.cli.stack`` once the mode is compose; every function needs a Docker
engine (``EngineUnavailable``: one line, exit 69, when none answers). Exit codes as in
native mode: ``status`` 0 all healthy, 1 something unhealthy, 3 nothing running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table
from rich.text import Text

from harborctl.cli.output import console, emit

if TYPE_CHECKING:
    from harborctl.settings import Settings
    from harborctl.stack.compose_stack import ComposeStatus

EXIT_NOT_RUNNING = 3


def _status_table(current: ComposeStatus, headline: str) -> None:
    console.print(headline, highlight=False, soft_wrap=True)
    table = Table()
    for column in ("service", "container", "state"):
        table.add_column(column, no_wrap=True)
    for column in ("health", "url"):
        table.add_column(column, overflow="fold")
    for service in current.services:
        style = "green" if service.healthy else "red"
        table.add_row(
            service.service,
            service.name,
            Text(service.state, style=style),
            Text(service.health, style=style),
            service.url,
        )
    console.print(table)


def compose_up(settings: Settings, *, workers: int, as_json: bool) -> None:
    """Start the compose stack (overlay written first) and show its status."""
    from harborctl.stack.compose_stack import ComposeStack

    stack = ComposeStack(settings)
    command = stack.up(workers=workers)
    current = stack.status()
    data = {"result": "started", "command": command, **current.to_dict()}

    def human() -> None:
        verdict = "up" if current.healthy else "[red]up, NOT healthy[/]"
        _status_table(current, f"HarborHook stack is {verdict} (compose, {workers} worker(s))")
        console.print("next steps:")
        for step in ("harborctl tenants create acme", "harborctl status", "harborctl down"):
            console.print(f"  {step}", highlight=False)

    emit(data, as_json, human)
    if not current.healthy:
        raise typer.Exit(1)


def compose_status(settings: Settings, *, as_json: bool) -> None:
    from harborctl.stack.compose_stack import ComposeStack

    current = ComposeStack(settings).status()

    def human() -> None:
        if not current.services:
            console.print("HarborHook stack: not running (compose)", highlight=False)
            return
        verdict = "healthy" if current.healthy else "[red]NOT healthy[/]"
        _status_table(current, f"HarborHook stack: {verdict} (compose)")

    emit(current.to_dict(), as_json, human)
    if not current.running:
        raise typer.Exit(EXIT_NOT_RUNNING)
    raise typer.Exit(0 if current.healthy else 1)


def compose_down(settings: Settings, *, volumes: bool, as_json: bool) -> None:
    from harborctl.stack.compose_stack import ComposeStack

    command = ComposeStack(settings).down(volumes=volumes)
    data = {"mode": "compose", "command": command, "volumes_removed": volumes}
    what = "containers and volumes" if volumes else "containers (volumes kept)"
    emit(data, as_json, lambda: console.print(f"HarborHook stack stopped (compose): {what}"))
