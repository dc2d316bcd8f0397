"""The stack a bench run measures: a throwaway native stack of its own, or the running one.

``throwaway_stack`` brings up a native stack (``harborctl.stack``) in a temporary state dir
on free loopback ports with the database, transport, workers and nsqd nodes asked for,
yields it, and takes it down and deletes it afterwards (its PostgreSQL cluster too). The
caller's ``HARBORHOOK_*`` tuning variables reach its processes; those naming places,
addresses, ports and keys do not (the stack decides them), nor an outbound allowlist (the
local stack allows loopback, where the bench's receiver listens).

``running_stack`` describes the stack of the configured state dir (``harborctl up``): its
API URL and admin key, and, when it is a native stack, its processes (for their CPU).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harborctl.settings import ENV_PREFIX, Settings, ensure_admin_key, load_settings
from harborctl.stack.model import LOOPBACK, DatabaseKind, StackOptions, StackPlan, Transport
from harborctl.stack.native import NativeStack
from harborctl.stack.plan import plan_stack
from harborctl.stack.postgres import remove_stack_cluster

START_TIMEOUT_SECONDS = 180.0
# the stack decides these for a throwaway stack; the caller's values never reach it
_NOT_PASSED_ON = frozenset(
    ENV_PREFIX + name
    for name in (
        "STATE_DIR",
        "CONFIG",
        "DATABASE_URL",
        "API_URL",
        "API_KEY",
        "ADMIN_KEY",
        "TENANT_ID",
        "TRANSPORT",
        "NSQD_TCP_ADDRESSES",
        "NSQLOOKUPD_HTTP_ADDRESSES",
        "INGEST_HOST",
        "INGEST_PORT",
        "WORKER_METRICS_PORT",
        "MONITOR_HOST",
        "MONITOR_PORT",
        "PROMETHEUS_PORT",
        "ALERTMANAGER_PORT",
        "PROMETHEUS_URL",
        "ALERTMANAGER_URL",
        "JAEGER_OTLP_PORT",
        "JAEGER_QUERY_PORT",
        "JAEGER_GRPC_PORT",
        "JAEGER_HEALTH_PORT",
        "JAEGER_URL",
        "LOG_DIR",
        "OUTBOUND_ALLOW_CIDRS",  # the stack allows loopback: the bench's receiver is there
    )
)
# the bench's own kinds of process, by the stack component kind
STACK_KINDS = frozenset({"ingest", "worker", "nsqd", "nsqlookupd", "postgres"})


@dataclass(frozen=True)
class StackProcess:
    """One supervised process: ``kind`` is ``worker`` for ``worker-2``."""

    name: str
    kind: str
    pid: int

    @property
    def counted(self) -> bool:
        """Part of the stack's CPU per delivery (the observability processes are not)."""
        return self.kind in STACK_KINDS


@dataclass(frozen=True)
class NsqdNode:
    name: str
    tcp_address: str
    http_url: str
    pid: int | None


@dataclass(frozen=True)
class StackTarget:
    api_url: str
    admin_key: str
    started: bool  # a throwaway stack of this run
    transport: str
    database: str
    processes: tuple[StackProcess, ...] = ()
    nsqd: tuple[NsqdNode, ...] = ()
    worker_metrics_urls: tuple[str, ...] = ()
    database_url: str | None = None
    state_dir: Path | None = None
    notes: tuple[str, ...] = ()

    def count(self, kind: str) -> int:
        return sum(1 for process in self.processes if process.kind == kind)


@dataclass(frozen=True)
class ThrowawayOptions:
    """The stack to start. ``nsqd_mem_queue_size``: each nsqd's ``--mem-queue-size`` (None:
    nsqd's default). ``environment``: ``HARBORHOOK_*`` tuning variables for the stack's
    processes, on top of the caller's (never the ones the stack decides: places, ports, keys).
    """

    database: DatabaseKind = "sqlite"
    transport: Transport = "db"
    workers: int = 1
    nsqd_nodes: int = 1
    observability: bool = True
    nsqd_mem_queue_size: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def _environment(extra: dict[str, str], tuning: Mapping[str, str]) -> dict[str, str]:
    passed = {
        key: value
        for source in (os.environ, tuning)
        for key, value in source.items()
        if key.startswith(ENV_PREFIX) and key not in _NOT_PASSED_ON
    }
    return {**passed, **extra}


@contextlib.contextmanager
def throwaway_stack(
    options: ThrowawayOptions, progress: Callable[[str], None] = lambda message: None
) -> Iterator[StackTarget]:
    """A native stack of this run (module docstring); StackStartFailed when it does not
    come up (everything started is stopped and deleted again)."""
    # 0711: the postgres OS user may pass through to the cluster in it, nobody may list it
    state_dir = Path(tempfile.mkdtemp(prefix="harborhook-bench-"))
    state_dir.chmod(0o711)
    try:
        ports = iter(free_ports(13 + options.workers + 2 * options.nsqd_nodes))
        ingest, monitor, prometheus, alertmanager = (next(ports) for _ in range(4))
        lookupd_tcp, lookupd_http, postgres = (next(ports) for _ in range(3))
        jaeger = {name: next(ports) for name in ("otlp", "query", "grpc", "health")}
        workers = tuple(next(ports) for _ in range(options.workers))
        nodes = [(next(ports), next(ports)) for _ in range(options.nsqd_nodes)]
        admin_key = "hh_admin_" + secrets.token_urlsafe(24)
        settings = load_settings(
            state_dir=state_dir,
            ingest_host=LOOPBACK,
            ingest_port=ingest,
            monitor_port=monitor,
            prometheus_port=prometheus,
            alertmanager_port=alertmanager,
            jaeger_otlp_port=jaeger["otlp"],
            jaeger_query_port=jaeger["query"],
            jaeger_grpc_port=jaeger["grpc"],
            jaeger_health_port=jaeger["health"],
            worker_metrics_port=workers[0],
            api_url=f"http://{LOOPBACK}:{ingest}",
            admin_key=admin_key,
            outbound_allow_cidrs=[],
        )
        plan = plan_stack(
            settings,
            StackOptions(
                nsq=options.transport == "nsq",
                nsqd_tcp_port=nodes[0][0],
                nsqd_http_port=nodes[0][1],
                nsqlookupd_tcp_port=lookupd_tcp,
                nsqlookupd_http_port=lookupd_http,
                nsqd_nodes=options.nsqd_nodes,
                nsqd_more_ports=tuple(nodes[1:]),
                workers=options.workers,
                worker_metrics_ports=workers,
                database=options.database,
                postgres_port=postgres,
                observability=options.observability,
                nsqd_mem_queue_size=options.nsqd_mem_queue_size,
            ),
            environ=_environment(
                {
                    ENV_PREFIX + "ADMIN_KEY": admin_key,
                    ENV_PREFIX + "MONITOR_PORT": str(monitor),
                    ENV_PREFIX + "PROMETHEUS_PORT": str(prometheus),
                    ENV_PREFIX + "ALERTMANAGER_PORT": str(alertmanager),
                },
                options.environment,
            ),
        )
        native = NativeStack(plan.layout)
        try:
            progress(f"starting a {options.database} + {plan.transport} stack in {state_dir}")
            native.up(plan, timeout=START_TIMEOUT_SECONDS, progress=progress)
            yield _describe(settings, native, started=True, database_url=plan.database_url)
        finally:
            progress("stopping the stack")
            native.down()
            remove_stack_cluster(plan.layout)
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


def running_stack(api_url: str | None) -> StackTarget:
    """The stack of the configured state dir; its processes when it is a native stack."""
    settings = load_settings(**({"api_url": api_url} if api_url else {}))
    native = NativeStack(settings.layout)
    notes: tuple[str, ...] = ()
    if native.status() is None:
        notes = (
            f"no native stack runs in {settings.layout.root}: the stack's processes are not "
            "measured (CPU and memory)",
        )
    return _describe(settings, native, started=False, notes=notes)


def _describe(
    settings: Settings,
    native: NativeStack,
    *,
    started: bool,
    notes: tuple[str, ...] = (),
    database_url: str | None = None,
) -> StackTarget:
    status = native.status()
    plan: StackPlan | None = native.started_plan() if status is not None else None
    url = database_url or settings.resolved_database_url
    if status is None or plan is None:
        return StackTarget(
            api_url=settings.api_url,
            admin_key=ensure_admin_key(settings),
            started=started,
            transport=settings.transport,
            database="postgres" if url.startswith("postgres") else "sqlite",
            database_url=url,
            notes=notes,
        )
    pids = {row.name: row.pid for row in status.components}
    processes = tuple(
        StackProcess(component.name, component.kind, pid)
        for component in plan.components
        if (pid := pids.get(component.name)) is not None
    )
    nsqd = tuple(
        NsqdNode(
            name=component.name,
            tcp_address=f"{component.listens[0][0]}:{component.listens[0][1]}",
            http_url=component.url,
            pid=pids.get(component.name),
        )
        for component in plan.of_kind("nsqd")
    )
    return StackTarget(
        api_url=settings.api_url,
        admin_key=ensure_admin_key(settings),
        started=started,
        transport=status.transport,
        database=status.database,
        processes=processes,
        nsqd=nsqd,
        worker_metrics_urls=tuple(c.url for c in plan.of_kind("worker")),
        database_url=url,
        state_dir=settings.layout.root,
        # the transport was asked for explicitly: the plan's note on choosing it says nothing
        notes=(*notes, *(note for note in status.notes if not note.startswith("NSQ disabled"))),
    )
