"""harborctl up/down/status: the local stack, native (processes under supervisord) or
compose (``deploy/docker`` through ``docker compose``: ``harborctl.cli.stack_compose``).

``--mode auto`` picks compose when a Docker engine answers ``docker info`` (and the compose
file is in the checkout), else native; ``down`` and ``status`` pick native while the native
stack of the state dir runs.

Exit codes: ``up`` 0 when the stack is up and healthy (also when it already was), non-zero
when it could not start (everything it started is stopped again), 69 for ``--mode compose``
without a Docker engine; ``status`` 0 all healthy, 1 something unhealthy, 3 not running;
``down`` 0 when stopped or not running, 2 when ``--volumes`` is refused (no ``--yes``).
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from harborctl.cli.options import JsonFlag, StateDir
from harborctl.cli.output import console, emit, err_console, fail

if TYPE_CHECKING:
    from harborctl.settings import Settings
    from harborctl.stack.status import StackStartFailed, StackStatus

EXIT_NOT_RUNNING = 3


class Mode(StrEnum):
    auto = "auto"
    native = "native"
    compose = "compose"


class DatabaseChoice(StrEnum):
    sqlite = "sqlite"
    postgres = "postgres"


def register(app: typer.Typer) -> None:
    """Add ``up``, ``down`` and ``status`` to the root app."""
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)


def _load_settings(state_dir: Path | None) -> Settings:
    from harborctl.settings import load_settings

    if state_dir is not None:
        # through the environment, so the YAML lookup in that state dir and every child process
        # see the same state dir as this command
        os.environ["HARBORHOOK_STATE_DIR"] = str(state_dir.expanduser().absolute())
    return load_settings()


def _format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d{hours:02d}h{minutes:02d}m"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _status_table(current: StackStatus, headline: str) -> None:
    from rich.table import Table

    console.print(headline, highlight=False, soft_wrap=True)
    table = Table()
    for column in ("component", "state", "pid", "uptime"):
        table.add_column(column, no_wrap=True)
    for column in ("health", "url"):
        table.add_column(column, overflow="fold")  # wrap, never elide a URL
    for component in current.components:
        colour = "green" if component.healthy else "red"
        table.add_row(
            component.name,
            f"[{colour}]{component.state}[/]",
            "" if component.pid is None else str(component.pid),
            _format_uptime(component.uptime_seconds),
            f"[{colour}]{component.health}[/]",
            component.url,
        )
    console.print(table)


def _print_trace_store(current: StackStatus) -> None:
    """``traces:   Jaeger UI <url>`` when the stack runs Jaeger."""
    jaeger = next((c for c in current.components if c.name == "jaeger"), None)
    if jaeger is not None:
        console.print(f"traces:    Jaeger UI {jaeger.url}", highlight=False, soft_wrap=True)


def _admin_key_location(settings: Settings) -> str:
    """Make sure the admin key exists (before any process starts) and say where it lives."""
    from harborctl.settings import ensure_admin_key

    ensure_admin_key(settings)  # generates the key file once when unset
    if settings.admin_key:
        return "HARBORHOOK_ADMIN_KEY (settings)"
    return str(settings.layout.admin_key_file)


def _next_steps(settings: Settings, ingest_url: str | None) -> list[str]:
    steps: list[str] = []
    if ingest_url and ingest_url.rstrip("/") != settings.api_url:
        steps.append(f"export HARBORHOOK_API_URL={ingest_url}")
    steps += [
        "harborctl tenants create acme",
        "harborctl status",
        "harborctl down",
    ]
    return steps


def resolve_mode(mode: Mode, *, native_running: bool = False) -> Mode:
    """native or compose: ``auto`` is native while the native stack runs, else compose when
    the compose file exists and a Docker engine answers, else native."""
    from harborctl.stack.compose import compose_file, docker_engine_reachable

    if mode is not Mode.auto:
        return mode
    if not native_running and compose_file().exists() and docker_engine_reachable():
        return Mode.compose
    return Mode.native


def report_start_failure(exc: StackStartFailed) -> None:
    for failure in exc.failures:
        err_console.print(
            f"[bold red]{failure.name}[/]: {failure.reason}; last lines of {failure.log_file}:",
            highlight=False,
            soft_wrap=True,
        )
        for line in failure.log_tail or ("(empty)",):
            err_console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    err_console.print("everything `up` started has been stopped again", style="yellow")


def up(
    state_dir: StateDir = None,
    no_nsq: bool = typer.Option(
        False, "--no-nsq", help="Use the db transport even when nsqd/nsqlookupd are installed."
    ),
    nsqd_tcp_port: list[int] = typer.Option(
        [4150],
        min=1,
        max=65535,
        help="nsqd TCP port; repeat it for the nodes of --nsqd-nodes (further nodes take the "
        "next ports, two apart).",
    ),
    nsqd_http_port: list[int] = typer.Option(
        [4151], min=1, max=65535, help="nsqd HTTP port; repeatable like --nsqd-tcp-port."
    ),
    nsqlookupd_tcp_port: int = typer.Option(4160, min=1, max=65535, help="nsqlookupd TCP port."),
    nsqlookupd_http_port: int = typer.Option(4161, min=1, max=65535, help="nsqlookupd HTTP port."),
    nsqd_nodes: int = typer.Option(
        1, "--nsqd-nodes", min=1, max=16, help="nsqd nodes behind the one nsqlookupd."
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Delivery workers, each with its own metrics port (compose: the worker "
        "service's replicas).",
    ),
    worker_metrics_port: list[int] = typer.Option(
        [],
        min=1,
        max=65535,
        help="A worker's metrics port, repeatable, one per worker (default: the "
        "worker_metrics_port setting, then the next free ports).",
    ),
    database: DatabaseChoice | None = typer.Option(
        None,
        "--database",
        help="sqlite: the SQLite file in the state dir; postgres: a PostgreSQL cluster of the "
        "stack's own (run as the postgres OS user under root). Default: database_url, else "
        "SQLite.",
    ),
    postgres_port: int = typer.Option(
        5442, min=1, max=65535, help="Port of the stack's PostgreSQL (--database postgres)."
    ),
    mode: Mode = typer.Option(
        Mode.auto,
        "--mode",
        help="native: local processes under supervisord; compose: deploy/docker with "
        "`docker compose` (needs a Docker engine); auto: compose when `docker info` answers, "
        "else native. The port, --database and --nsqd-* options are native only.",
    ),
    timeout: float = typer.Option(
        60.0, "--timeout", min=1.0, help="Seconds to wait for every component to be healthy."
    ),
    as_json: JsonFlag = False,
) -> None:
    """Start the local stack (idempotent) and wait until every component is healthy.

    Native: ingest, workers and the backlog monitor under supervisord, with
    nsqd/nsqlookupd, Prometheus, Alertmanager and Jaeger when installed
    (Jaeger's UI: the jaeger row's URL; `harborctl traces` reads it).
    Compose: deploy/docker/docker-compose.yml with your overlay.
    """
    from harborctl.stack.model import StackOptions
    from harborctl.stack.native import NativeStack
    from harborctl.stack.plan import plan_stack
    from harborctl.stack.status import StackStartFailed

    settings = _load_settings(state_dir)
    if resolve_mode(mode, native_running=NativeStack(settings.layout).running()) is Mode.compose:
        from harborctl.cli.stack_compose import compose_up

        compose_up(settings, workers=workers, as_json=as_json)
        return
    if len(nsqd_tcp_port) != len(nsqd_http_port):
        fail("give --nsqd-tcp-port and --nsqd-http-port the same number of times", 2)
    plan = plan_stack(
        settings,
        StackOptions(
            nsq=not no_nsq,
            nsqd_tcp_port=nsqd_tcp_port[0],
            nsqd_http_port=nsqd_http_port[0],
            nsqlookupd_tcp_port=nsqlookupd_tcp_port,
            nsqlookupd_http_port=nsqlookupd_http_port,
            nsqd_nodes=nsqd_nodes,
            nsqd_more_ports=tuple(zip(nsqd_tcp_port[1:], nsqd_http_port[1:], strict=True)),
            workers=workers,
            worker_metrics_ports=tuple(worker_metrics_port),
            database=database.value if database else None,
            postgres_port=postgres_port,
        ),
    )
    native = NativeStack(plan.layout)
    admin_key = _admin_key_location(settings)
    try:
        with err_console.status("harborctl up: checking the stack") as spinner:
            result = native.up(
                plan,
                timeout=timeout,
                progress=lambda message: spinner.update(f"harborctl up: {message}"),
            )
    except StackStartFailed as exc:
        report_start_failure(exc)
        raise

    current = result.status
    ingest = next((c for c in current.components if c.name == "ingest"), None)
    next_steps = _next_steps(settings, ingest.url if ingest else None)
    data: dict[str, Any] = {
        "result": "already_running" if result.already_running else "started",
        **current.to_dict(),
        "admin_key": admin_key,
        "logs_dir": str(plan.layout.process_logs_dir),
        "next_steps": next_steps,
    }

    def human() -> None:
        if result.already_running:
            headline = "HarborHook stack is already up: nothing started"
        else:
            headline = "HarborHook stack is up"
        _status_table(current, f"{headline} (native, supervisord pid {current.supervisord_pid})")
        console.print(f"transport: [bold]{current.transport}[/]", highlight=False)
        console.print(f"database:  [bold]{current.database}[/]", highlight=False)
        _print_trace_store(current)
        console.print(f"state dir: {current.state_dir}", highlight=False)
        console.print(f"logs:      {plan.layout.process_logs_dir}", highlight=False)
        console.print(f"admin key: {admin_key} (the key itself is never printed)", highlight=False)
        for note in current.notes:
            console.print(f"note: {note}", style="yellow", highlight=False)
        if result.already_running:
            console.print("(run `harborctl down` first to start it with other options)")
        console.print("next steps:")
        for step in next_steps:
            console.print(f"  {step}", highlight=False)

    emit(data, as_json, human)
    if not current.healthy:
        err_console.print(
            "[bold red]error:[/] the running stack is not healthy; see `harborctl status`, "
            "or restart it with `harborctl down && harborctl up`",
            highlight=False,
        )
        raise typer.Exit(1)


MODE_OF_RUNNING = typer.Option(
    Mode.auto,
    "--mode",
    help="native, compose, or auto: native while the native stack of the state dir runs, "
    "else compose when `docker info` answers, else native.",
)


def status(
    state_dir: StateDir = None, mode: Mode = MODE_OF_RUNNING, as_json: JsonFlag = False
) -> None:
    """Each component: state, pid, uptime, live health, URL (compose: each service from
    `docker compose ps` plus its own health endpoint)."""
    from harborctl.stack.native import NativeStack

    settings = _load_settings(state_dir)
    layout = settings.layout
    native = NativeStack(layout)
    if resolve_mode(mode, native_running=native.running()) is Mode.compose:
        from harborctl.cli.stack_compose import compose_status

        compose_status(settings, as_json=as_json)
        return
    current = native.status()
    if current is None:
        emit(
            {"running": False, "healthy": False, "state_dir": str(layout.root)},
            as_json,
            lambda: console.print(
                f"HarborHook stack: not running (state dir {layout.root})", highlight=False
            ),
        )
        raise typer.Exit(EXIT_NOT_RUNNING)

    def human() -> None:
        verdict = "healthy" if current.healthy else "[red]NOT healthy[/]"
        _status_table(
            current,
            f"HarborHook stack: running, {verdict} (native, supervisord pid "
            f"{current.supervisord_pid}, transport {current.transport}, "
            f"database {current.database})",
        )
        _print_trace_store(current)
        console.print(f"state dir: {current.state_dir}", highlight=False)

    emit(current.to_dict(), as_json, human)
    raise typer.Exit(0 if current.healthy else 1)


def _confirm_volumes(what: str, yes: bool) -> None:
    """Go on only with --yes, or a yes typed at a terminal; else exit 2 saying why."""
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"--volumes deletes {what}; add --yes to confirm (no terminal to ask)", 2)
    if not typer.confirm(f"Delete {what}?", default=False):
        fail("nothing stopped, nothing deleted", 2)


def down(
    state_dir: StateDir = None,
    mode: Mode = MODE_OF_RUNNING,
    volumes: bool = typer.Option(
        False,
        "--volumes",
        help="Also delete the stack's data: compose, its named volumes; native, the database, "
        "queue, metrics, alert state and span file in the state dir (config, keys, receivers "
        "and logs stay). Asks first; --yes to skip the question.",
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="Confirm --volumes without asking."),
    as_json: JsonFlag = False,
) -> None:
    """Stop exactly what `harborctl up` started, and wait until it is gone."""
    from harborctl.stack.data import remove_stack_data
    from harborctl.stack.native import NativeStack

    settings = _load_settings(state_dir)
    layout = settings.layout
    native = NativeStack(layout)
    if resolve_mode(mode, native_running=native.running()) is Mode.compose:
        from harborctl.cli.stack_compose import compose_down

        if volumes:
            _confirm_volumes("the compose stack's named volumes (all its data)", yes)
        compose_down(settings, volumes=volumes, as_json=as_json)
        return
    if volumes:
        _confirm_volumes(f"the stack's data in {layout.root}", yes)
    with err_console.status("harborctl down: stopping the stack"):
        result = native.down()
    removed = remove_stack_data(layout) if volumes else []
    data = {
        **result.to_dict(),
        "state_dir": str(layout.root),
        "removed": [str(path) for path in removed],
    }

    def human() -> None:
        if not result.was_running:
            console.print(
                f"HarborHook stack: not running (state dir {layout.root})", highlight=False
            )
        else:
            count = len(result.stopped_pids)
            console.print(
                f"HarborHook stack stopped: supervisord (pid {result.supervisord_pid}) and "
                f"{count} process{'es' if count != 1 else ''}",
                highlight=False,
            )
        if result.forced:
            console.print("some processes did not stop in time and were killed", style="yellow")
        for path in removed:
            console.print(f"deleted {path}", highlight=False)
        if volumes and not removed:
            console.print("no stack data to delete", highlight=False)

    emit(data, as_json, human)
