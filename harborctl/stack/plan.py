"""What the native stack runs, decided without touching a process or a file (pure).

``plan_stack(settings, options, which=..., environ=...)`` picks the transport (NSQ when
nsqd and nsqlookupd are on PATH and not switched off), the database (as configured, SQLite
in the state dir, or a PostgreSQL cluster of the stack's own), the components (from
``harborctl.stack.components``; one whose ``required_binary`` is not on PATH is skipped with
a note) and the environment every child sees (with the stack's Jaeger, the services export
their traces to it). ``stack_settings`` is what the running stack shares with every command
(``<state_dir>/run/settings.json``). The model (``Component``, ``StackOptions``,
``StackPlan``, the start stages) is ``harborctl.stack.model``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from harborctl.errors import StackError
from harborctl.layout import StateLayout
from harborctl.settings import ENV_PREFIX, Settings
from harborctl.stack.components import component_catalog, runs_jaeger
from harborctl.stack.jaeger import JAEGER_BINARY, jaeger_ports
from harborctl.stack.model import (
    LOOPBACK,
    MIN_STOP_WAIT_SECONDS,
    STACK_DATABASE,
    STOP_MARGIN_SECONDS,
    Component,
    DatabaseKind,
    StackOptions,
    StackPlan,
    Transport,
)
from harborctl.stack.postgres import (
    SUPERUSER,
    PostgresCluster,
    postgres_bin_dir,
    postgres_os_user,
    stack_cluster_home,
)

# room beyond the HarborHook processes' pools (harborctl.store.database), for psql and such
SPARE_CONNECTIONS = 20
NSQ_BINARIES = ("nsqlookupd", "nsqd")

# The local stack runs on a developer's machine, where the receivers under test listen on
# loopback: its workers may deliver there unless outbound_allow_cidrs says otherwise.
LOCAL_STACK_OUTBOUND_ALLOW = ("127.0.0.0/8", "::1/128")


def stack_environment(
    settings: Settings,
    options: StackOptions,
    state_dir: Path,
    transport: Transport,
    environ: Mapping[str, str],
    *,
    nsqd_tcp_addresses: Sequence[str] | None = None,
    worker_metrics_port: int | None = None,
    database_url: str | None = None,
    otlp_endpoint: str | None = None,
) -> dict[str, str]:
    """The environment every child sees: the caller's HARBORHOOK_* plus what the stack decides
    (the ingest publishes to every nsqd in ``nsqd_tcp_addresses``; ``database_url`` when the
    stack chose the database; ``otlp_endpoint`` when the services export their traces to the
    stack's Jaeger)."""
    env = {key: value for key, value in environ.items() if key.startswith(ENV_PREFIX)}
    config = env.get(ENV_PREFIX + "CONFIG")
    if config:  # children run in the state dir: keep a relative config path meaning the same
        env[ENV_PREFIX + "CONFIG"] = str(Path(config).expanduser().absolute())
    env.update(
        {
            ENV_PREFIX + "STATE_DIR": str(state_dir),
            ENV_PREFIX + "TRANSPORT": transport,
            ENV_PREFIX + "INGEST_HOST": settings.ingest_host,
            ENV_PREFIX + "INGEST_PORT": str(settings.ingest_port),
            ENV_PREFIX + "WORKER_METRICS_PORT": str(
                worker_metrics_port or settings.worker_metrics_port
            ),
        }
    )
    if database_url is not None:
        env[ENV_PREFIX + "DATABASE_URL"] = database_url
    if otlp_endpoint is not None:
        env[ENV_PREFIX + "OTLP_ENDPOINT"] = otlp_endpoint
    if transport == "nsq":
        addresses = nsqd_tcp_addresses or [f"{LOOPBACK}:{options.nsqd_tcp_port}"]
        # JSON lists: how pydantic-settings parses list-valued environment variables
        env[ENV_PREFIX + "NSQD_TCP_ADDRESSES"] = json.dumps(list(addresses))
        env[ENV_PREFIX + "NSQLOOKUPD_HTTP_ADDRESSES"] = json.dumps(
            [f"{LOOPBACK}:{options.nsqlookupd_http_port}"]
        )
    if not settings.outbound_allow_cidrs:  # a developer's machine: local test receivers
        env[ENV_PREFIX + "OUTBOUND_ALLOW_CIDRS"] = json.dumps(list(LOCAL_STACK_OUTBOUND_ALLOW))
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the log files as they are written
    # services write their JSON lines to <state_dir>/logs/<service>.jsonl; supervisord keeps
    # stdout/stderr in <component>.log, so stdout logging would write every line twice
    env[ENV_PREFIX + "LOG_TO_STDOUT"] = "false"
    return env


# settings the stack decides for its children that the CLI must see too; never secrets
_SHARED_SETTINGS = (
    "TRANSPORT",
    "NSQD_TCP_ADDRESSES",
    "NSQLOOKUPD_HTTP_ADDRESSES",
    "INGEST_HOST",
    "INGEST_PORT",
    "WORKER_METRICS_PORT",
    "MONITOR_PORT",
    "PROMETHEUS_PORT",
    "ALERTMANAGER_PORT",
)


def stack_settings(
    env: Mapping[str, str],
    components: Sequence[Component] = (),
    *,
    share_database: bool = False,
) -> dict[str, object]:
    """The stack's decisions as settings values (``api_url`` follows the ingest address;
    ``prometheus_url``/``alertmanager_url`` are those of the Prometheus and Alertmanager the
    stack runs, so `harborctl alerts ...` talks to them; ``jaeger_url`` that of its Jaeger,
    so `harborctl traces ...` reads it).

    ``share_database``: the stack runs its own PostgreSQL (a URL without a password), so
    the CLI reads that database too; a configured ``database_url`` is never copied.
    """
    values: dict[str, object] = {}
    names = (*_SHARED_SETTINGS, *(("DATABASE_URL",) if share_database else ()))
    for name in names:
        raw = env.get(ENV_PREFIX + name)
        if raw is None:
            continue
        values[name.lower()] = json.loads(raw) if raw.startswith("[") else raw
    if ENV_PREFIX + "INGEST_PORT" in env:
        host = env.get(ENV_PREFIX + "INGEST_HOST", LOOPBACK)
        values["api_url"] = f"http://{host}:{env[ENV_PREFIX + 'INGEST_PORT']}"
    for component in components:
        if component.name in ("prometheus", "alertmanager", "jaeger"):
            values[f"{component.name}_url"] = component.url
    return values


PostgresFactory = Callable[[StateLayout, int, int], PostgresCluster]


def stack_cluster(layout: StateLayout, port: int, max_connections: int) -> PostgresCluster:
    """The stack's own PostgreSQL cluster (finds the binaries, checks the home is reachable;
    StackError when PostgreSQL is not installed)."""
    os_user = postgres_os_user()
    return PostgresCluster(
        bin_dir=postgres_bin_dir(),
        home=stack_cluster_home(layout, os_user),
        port=port,
        os_user=os_user,
        durable=True,
        max_connections=max_connections,
    )


def choose_database(
    settings: Settings,
    options: StackOptions,
    postgres: PostgresCluster | None,
    notes: list[str],
) -> tuple[DatabaseKind, str, str | None]:
    """(kind, URL, the URL to put in the children's environment or None to keep the
    configured one)."""
    if options.database == "postgres":
        assert postgres is not None
        url = f"postgresql://{SUPERUSER}@{postgres.host}:{postgres.port}/{STACK_DATABASE}"
        if settings.database_url:
            notes.append("--database postgres: the configured database_url is not used")
        return "postgres", url, url
    if options.database == "sqlite":
        url = f"sqlite:///{settings.layout.sqlite_file}"
        if settings.database_url:
            notes.append("--database sqlite: the configured database_url is not used")
        return "sqlite", url, url
    url = settings.resolved_database_url
    kind: DatabaseKind = "postgres" if url.startswith("postgres") else "sqlite"
    return kind, url, None


def plan_stack(
    settings: Settings,
    options: StackOptions | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    environ: Mapping[str, str] | None = None,
    python: str = sys.executable,
    postgres: PostgresFactory = stack_cluster,
) -> StackPlan:
    """Decide what the native stack runs; no process is started and no file written
    (``postgres`` looks for the PostgreSQL binaries when the stack runs its own).

    Raises StackError for options that contradict each other or ports planned twice.
    """
    options = options or StackOptions()
    environ = os.environ if environ is None else environ
    layout = settings.layout
    _check_counts(options)
    transport, notes = choose_transport(options, which)
    if not settings.outbound_allow_cidrs:
        notes.append(
            "outbound request guard: loopback allowed for local receivers "
            f"({', '.join(LOCAL_STACK_OUTBOUND_ALLOW)}); set outbound_allow_cidrs to choose"
        )
    if options.nsqd_nodes > 1 and transport != "nsq":
        notes.append(f"--nsqd-nodes {options.nsqd_nodes} has no effect: transport db")
    cluster = None
    if options.database == "postgres":
        connections = postgres_connections(options.workers)
        cluster = postgres(layout, options.postgres_port, connections)
    kind, url, env_url = choose_database(settings, options, cluster, notes)
    catalog = component_catalog(settings, options, layout, transport, python, which, cluster)
    components = _installed(catalog, which, notes, _skip_hints(settings))
    if options.observability and not runs_jaeger(settings):
        notes.append(f"otlp_endpoint is set: traces go to {settings.otlp_endpoint}, no Jaeger")
    traced = any(c.name == "jaeger" for c in components)
    _check_ports(components)
    grace = max(MIN_STOP_WAIT_SECONDS, int(settings.worker_shutdown_grace + 0.999))
    workers = [port for c in components if c.kind == "worker" for _, port in c.listens]
    nsqd = [c.detail.removeprefix("tcp ") for c in components if c.kind == "nsqd"]
    return StackPlan(
        layout=layout,
        transport=transport,
        components=tuple(components),
        env=stack_environment(
            settings,
            options,
            layout.root,
            transport,
            environ,
            nsqd_tcp_addresses=nsqd,
            worker_metrics_port=workers[0] if workers else None,
            database_url=env_url,
            otlp_endpoint=jaeger_ports(settings).otlp_endpoint if traced else None,
        ),
        stop_wait_seconds=grace + STOP_MARGIN_SECONDS,
        notes=tuple(notes),
        database=kind,
        settings=settings,
        database_url=url,
        postgres=cluster,
    )


def postgres_connections(workers: int) -> int:
    """``max_connections`` for the stack's PostgreSQL: every pool of the ingest, the workers
    and the monitor full at once, plus spare ones; at least PostgreSQL's default 100."""
    from harborctl.store.database import POOL_OVERFLOW, POOL_SIZE

    return max(100, (POOL_SIZE + POOL_OVERFLOW) * (workers + 2) + SPARE_CONNECTIONS)


MAX_WORKERS = 64
MAX_NSQD_NODES = 16


def _check_counts(options: StackOptions) -> None:
    if not 1 <= options.workers <= MAX_WORKERS:
        raise StackError(f"workers must be 1 to {MAX_WORKERS}, not {options.workers}")
    if not 1 <= options.nsqd_nodes <= MAX_NSQD_NODES:
        raise StackError(f"nsqd nodes must be 1 to {MAX_NSQD_NODES}, not {options.nsqd_nodes}")
    if options.nsqd_mem_queue_size is not None and options.nsqd_mem_queue_size < 0:
        raise StackError(f"nsqd's mem-queue-size cannot be negative: {options.nsqd_mem_queue_size}")
    if options.nsqd_nodes > 1 and not options.nsq:
        raise StackError("--nsqd-nodes needs the nsq transport (it was switched off: --no-nsq)")


def _check_ports(components: Sequence[Component]) -> None:
    """StackError when two components would listen on one port."""
    owner: dict[int, str] = {}
    for component in components:
        for _, port in component.listens:
            if port in owner and owner[port] != component.name:
                raise StackError(
                    f"port {port} is planned for both {owner[port]} and {component.name}; "
                    "choose other ports"
                )
            owner[port] = component.name


def choose_transport(
    options: StackOptions, which: Callable[[str], str | None]
) -> tuple[Transport, list[str]]:
    """``nsq`` when asked for and both NSQ binaries are on PATH, else ``db``; with the why."""
    missing_nsq = [binary for binary in NSQ_BINARIES if which(binary) is None]
    if not options.nsq:
        return "db", ["NSQ disabled (--no-nsq): transport db"]
    if missing_nsq:
        return "db", [f"{' and '.join(missing_nsq)} not on PATH: NSQ not started, transport db"]
    return "nsq", []


def _skip_hints(settings: Settings) -> dict[str, str]:
    """What skipping a component means, by its binary (added to the one-line note)."""
    return {
        JAEGER_BINARY: f"traces go to the span file {settings.layout.spans_file} "
        "(scripts/bootstrap builds jaeger)"
    }


def _installed(
    catalog: list[Component],
    which: Callable[[str], str | None],
    notes: list[str],
    hints: Mapping[str, str] | None = None,
) -> list[Component]:
    """The components whose binary is on PATH (resolved to its path); a one-line note for
    each skip (with ``hints[binary]`` when there is one)."""
    components: list[Component] = []
    for component in catalog:
        if component.required_binary is not None:
            resolved = which(component.required_binary)
            if resolved is None:
                note = f"{component.name}: {component.required_binary} not on PATH, skipped"
                hint = (hints or {}).get(component.required_binary)
                notes.append(f"{note}; {hint}" if hint else note)
                continue
            component = replace(component, command=(resolved, *component.command[1:]))
        components.append(component)
    return components
