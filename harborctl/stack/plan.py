"""What the native stack runs, decided without touching a process or a file (pure).

``plan_stack(settings, options, which=..., environ=...)`` picks the transport (NSQ when
nsqd and nsqlookupd are on PATH and not switched off), the database (as configured, SQLite
in the state dir, or a PostgreSQL cluster of the stack's own), the components (a
``Component`` each: name, argv, env, health URL, required binary, start stage) and the
environment every child sees. Adding a component (Prometheus, Alertmanager, ...) is one more
``Component`` in ``component_catalog``; a component whose ``required_binary`` is not on PATH
is skipped with a note. Paths come from the state dir's ``StateLayout``.

Start stages: supervisord starts the infrastructure (stage 0: NSQ daemons, PostgreSQL) and
what depends on nothing (stage 2: Prometheus, Alertmanager) at once; ``up`` starts
HarborHook's own processes (stage 1) when the infrastructure is healthy and the database is
created and migrated, so several workers never race to migrate it and nothing starts against
a database that is not there yet; then it waits for stages 1 and 2 together.

Several workers (``--workers N``) are ``worker-1`` .. ``worker-N``, each with its own metrics
port; several nsqd nodes (``--nsqd-nodes N``) are ``nsqd-1`` .. ``nsqd-N``, each with its own
ports, data dir and ``--node-id``, all registered with the one nsqlookupd; the ingest
publishes to all of them. With one of each the names are ``worker`` and ``nsqd``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from harborctl.errors import StackError
from harborctl.layout import StateLayout
from harborctl.settings import ENV_PREFIX, Settings
from harborctl.stack.postgres import (
    SUPERUSER,
    PostgresCluster,
    postgres_bin_dir,
    postgres_os_user,
    stack_cluster_home,
)

# Stack-only defaults (not settings yet): NSQ's own default ports, on loopback.
LOOPBACK = "127.0.0.1"
DEFAULT_NSQD_TCP_PORT = 4150
DEFAULT_NSQD_HTTP_PORT = 4151
DEFAULT_NSQLOOKUPD_TCP_PORT = 4160
DEFAULT_NSQLOOKUPD_HTTP_PORT = 4161
# not 5432: a PostgreSQL of the machine keeps its port
DEFAULT_POSTGRES_PORT = 5442
STACK_DATABASE = "harborhook"
# room beyond the HarborHook processes' pools (harborctl.store.database), for psql and such
SPARE_CONNECTIONS = 20
NSQ_BINARIES = ("nsqlookupd", "nsqd")
PROMETHEUS_BINARY = "prometheus"
# Debian names it prometheus-alertmanager; upstream tarballs alertmanager
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")

# supervisord's stopwaitsecs: the worker's shutdown grace plus a margin before SIGKILL.
STOP_MARGIN_SECONDS = 5
MIN_STOP_WAIT_SECONDS = 30

Transport = Literal["db", "nsq"]
DatabaseKind = Literal["sqlite", "postgres"]
# stage 0: started by supervisord at launch, healthy before HarborHook starts; stage 1: by
# `up`, once stage 0 is healthy; stage 2: at launch, waited for with stage 1 (module docstring)
STAGE_INFRASTRUCTURE = 0
STAGE_HARBORHOOK = 1
STAGE_INDEPENDENT = 2
AUTOSTART_STAGES = frozenset({STAGE_INFRASTRUCTURE, STAGE_INDEPENDENT})


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Component:
    """One supervised process of the stack.

    ``command[0]`` is the program: a binary name when ``required_binary`` is set (resolved on
    PATH by the planner, the component is skipped when it is missing), else an absolute path.
    ``env`` is added on top of the stack-wide environment. Health is ``GET health_url`` answering
    200 (and exactly ``health_body`` when set), or for a ``postgresql://`` URL a connection
    answering ``select 1``; without a health URL, RUNNING counts as healthy. ``kind`` names
    what it is when several run (``worker`` for ``worker-2``); ``stage`` says who starts it
    (module docstring); ``stop_signal`` is what supervisord sends to stop it.
    """

    name: str
    command: tuple[str, ...]
    url: str
    health_url: str | None = None
    health_body: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    required_binary: str | None = None
    listens: tuple[tuple[str, int], ...] = ()
    detail: str = ""
    kind: str = ""
    stage: int = STAGE_INFRASTRUCTURE
    stop_signal: str = "TERM"

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", self.name)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["env"] = dict(self.env)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Component:
        return cls(
            name=str(data["name"]),
            command=tuple(str(arg) for arg in data["command"]),
            url=str(data["url"]),
            health_url=data.get("health_url"),
            health_body=data.get("health_body"),
            env={str(k): str(v) for k, v in dict(data.get("env") or {}).items()},
            required_binary=data.get("required_binary"),
            listens=tuple((str(host), int(port)) for host, port in data.get("listens") or ()),
            detail=str(data.get("detail") or ""),
            kind=str(data.get("kind") or ""),
            stage=int(data.get("stage") or STAGE_INFRASTRUCTURE),
            stop_signal=str(data.get("stop_signal") or "TERM"),
        )


@dataclass(frozen=True)
class StackOptions:
    """What ``harborctl up`` adds on top of the settings.

    ``nsqd_tcp_port``/``nsqd_http_port`` are node 1's; ``nsqd_more_ports`` the (tcp, http)
    ports of nodes 2, 3, ... in order, and nodes beyond those take the next ports after the
    last one planned (two apart, skipping any port another component has).
    ``worker_metrics_ports`` likewise for the workers (worker 1 defaults to the
    ``worker_metrics_port`` setting). ``database`` None keeps the configured database
    (``database_url``, else SQLite in the state dir); ``sqlite`` forces the state dir's
    SQLite file; ``postgres`` runs a cluster of the stack's own on ``postgres_port``.
    ``observability`` False leaves out Prometheus and Alertmanager.
    ``nsqd_mem_queue_size`` is each nsqd's ``--mem-queue-size`` (messages a topic or channel
    keeps in memory before writing the rest to disk); None keeps nsqd's default (10000).
    """

    nsq: bool = True
    nsqd_tcp_port: int = DEFAULT_NSQD_TCP_PORT
    nsqd_http_port: int = DEFAULT_NSQD_HTTP_PORT
    nsqlookupd_tcp_port: int = DEFAULT_NSQLOOKUPD_TCP_PORT
    nsqlookupd_http_port: int = DEFAULT_NSQLOOKUPD_HTTP_PORT
    nsqd_nodes: int = 1
    nsqd_more_ports: tuple[tuple[int, int], ...] = ()
    workers: int = 1
    worker_metrics_ports: tuple[int, ...] = ()
    database: DatabaseKind | None = None
    postgres_port: int = DEFAULT_POSTGRES_PORT
    observability: bool = True
    nsqd_mem_queue_size: int | None = None


@dataclass(frozen=True)
class StackPlan:
    """What ``up`` starts: the components in start order, their environment and where."""

    layout: StateLayout
    transport: Transport
    components: tuple[Component, ...]
    env: Mapping[str, str]
    stop_wait_seconds: int
    notes: tuple[str, ...] = ()
    database: DatabaseKind = "sqlite"
    # what `up` renders configs from (Prometheus, Alertmanager); not kept in the state file
    settings: Settings | None = field(default=None, compare=False, repr=False)
    # the database `up` creates (PostgreSQL) and migrates before HarborHook's processes start
    database_url: str | None = field(default=None, compare=False, repr=False)
    postgres: PostgresCluster | None = field(default=None, compare=False, repr=False)

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)

    def of_kind(self, kind: str) -> list[Component]:
        """The components of one kind, in start order (``worker`` → worker-1, worker-2...)."""
        return [component for component in self.components if component.kind == kind]

    @property
    def worker_metrics_ports(self) -> list[int]:
        return [port for worker in self.of_kind("worker") for _, port in worker.listens]

    def to_dict(self) -> dict[str, Any]:
        """What the state file keeps (no environment: it may carry secrets)."""
        return {
            "state_dir": str(self.layout.root),
            "transport": self.transport,
            "database": self.database,
            "stop_wait_seconds": self.stop_wait_seconds,
            "notes": list(self.notes),
            "components": [{**component.to_dict(), "env": {}} for component in self.components],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackPlan:
        transport = data.get("transport")
        return cls(
            layout=StateLayout(Path(str(data["state_dir"]))),
            transport="nsq" if transport == "nsq" else "db",
            components=tuple(Component.from_dict(item) for item in data["components"]),
            env={},
            stop_wait_seconds=int(data.get("stop_wait_seconds") or MIN_STOP_WAIT_SECONDS),
            notes=tuple(str(note) for note in data.get("notes") or ()),
            database="postgres" if data.get("database") == "postgres" else "sqlite",
        )


# --------------------------------------------------------------------------- planning (pure)


def _url_host(host: str) -> str:
    """The host to put in a URL: wildcard listen addresses are reached on loopback."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        return LOOPBACK
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _http(host: str, port: int, path: str = "") -> str:
    return f"http://{_url_host(host)}:{port}{path}"


def numbered(kind: str, index: int, count: int) -> str:
    """``worker`` when it is the only one, else ``worker-1`` .. ``worker-N`` (1-based)."""
    return kind if count == 1 else f"{kind}-{index}"


def follow_ports(
    given: Sequence[int], count: int, *, step: int, taken: Collection[int]
) -> list[int]:
    """``count`` ports: ``given`` in order, then each ``step`` after the last one planned,
    skipping ports in ``taken`` (another component's). StackError past 65535."""
    if not given:
        raise StackError("at least the first port must be given")
    ports = list(given[:count])
    candidate = ports[-1]
    while len(ports) < count:
        candidate += step
        if candidate > 65535:
            raise StackError(f"no ports left above {given[-1]} for {count} processes")
        if candidate not in taken and candidate not in ports:
            ports.append(candidate)
    return ports


@dataclass(frozen=True)
class NsqdNode:
    name: str
    node: int  # 1-based
    tcp_port: int
    http_port: int
    data_dir: Path
    node_id: int | None  # --node-id, set when there are several (message ids never collide)

    @property
    def tcp_address(self) -> str:
        return f"{LOOPBACK}:{self.tcp_port}"


def nsqd_nodes(
    options: StackOptions, layout: StateLayout, taken: Collection[int]
) -> list[NsqdNode]:
    """The nsqd nodes of the plan: node 1 on ``nsqd_tcp_port``/``nsqd_http_port``, the
    others on ``nsqd_more_ports`` and then the next free pairs (two apart)."""
    count = options.nsqd_nodes
    busy = set(taken)
    tcp = follow_ports(
        [options.nsqd_tcp_port, *(t for t, _ in options.nsqd_more_ports)],
        count,
        step=2,
        taken=busy | {options.nsqd_http_port, *(h for _, h in options.nsqd_more_ports)},
    )
    http = follow_ports(
        [options.nsqd_http_port, *(h for _, h in options.nsqd_more_ports)],
        count,
        step=2,
        taken=busy | set(tcp),
    )
    return [
        NsqdNode(
            name=numbered("nsqd", index, count),
            node=index,
            tcp_port=tcp[index - 1],
            http_port=http[index - 1],
            data_dir=layout.nsqd_node_data_dir(index, count),
            node_id=index if count > 1 else None,
        )
        for index in range(1, count + 1)
    ]


def worker_ports(settings: Settings, options: StackOptions, taken: Collection[int]) -> list[int]:
    """One metrics port per worker: ``worker_metrics_ports`` (default: the setting), then
    the next ports up, skipping those another component listens on."""
    given = options.worker_metrics_ports or (settings.worker_metrics_port,)
    return follow_ports(given, options.workers, step=1, taken=taken)


def component_catalog(
    settings: Settings,
    options: StackOptions,
    layout: StateLayout,
    transport: Transport,
    python: str,
    which: Callable[[str], str | None] = shutil.which,
    postgres: PostgresCluster | None = None,
) -> list[Component]:
    """Every component the stack would run for this transport, in start order."""
    fixed = {
        options.nsqlookupd_tcp_port,
        options.nsqlookupd_http_port,
        settings.ingest_port,
        settings.monitor_port,
        *((settings.prometheus_port, settings.alertmanager_port) if options.observability else ()),
        *((postgres.port,) if postgres else ()),
    }
    nodes = nsqd_nodes(options, layout, fixed) if transport == "nsq" else []
    taken = fixed | {port for node in nodes for port in (node.tcp_port, node.http_port)}
    return [
        *([postgres_component(postgres)] if postgres else []),
        *(nsq_components(options, layout, nodes) if transport == "nsq" else []),
        *harborhook_components(settings, transport, python, worker_ports(settings, options, taken)),
        *(
            [
                alertmanager_component(settings, layout, which),
                prometheus_component(settings, layout),
            ]
            if options.observability
            else []
        ),
    ]


def postgres_component(cluster: PostgresCluster) -> Component:
    """The stack's PostgreSQL (``harborctl.stack.postgres``): SIGINT is its fast shutdown."""
    return Component(
        name="postgres",
        command=cluster.supervised_command(),
        url=f"postgresql://{cluster.host}:{cluster.port}/{STACK_DATABASE}",
        health_url=f"postgresql://{SUPERUSER}@{cluster.host}:{cluster.port}/postgres",
        listens=((cluster.host, cluster.port),),
        detail=f"data {cluster.data_dir}",
        stop_signal="INT",
    )


def nsq_components(
    options: StackOptions, layout: StateLayout, nodes: Sequence[NsqdNode] | None = None
) -> list[Component]:
    """nsqlookupd, then each nsqd node registering with it; all on loopback, all answer /ping."""
    lookupd_tcp = f"{LOOPBACK}:{options.nsqlookupd_tcp_port}"
    lookupd_http = f"{LOOPBACK}:{options.nsqlookupd_http_port}"
    if nodes is None:
        nodes = nsqd_nodes(
            options, layout, {options.nsqlookupd_tcp_port, options.nsqlookupd_http_port}
        )
    lookupd = Component(
        name="nsqlookupd",
        command=(
            "nsqlookupd",
            f"--tcp-address={lookupd_tcp}",
            f"--http-address={lookupd_http}",
            f"--broadcast-address={LOOPBACK}",
        ),
        url=f"http://{lookupd_http}",
        health_url=f"http://{lookupd_http}/ping",
        health_body="OK",
        required_binary="nsqlookupd",
        listens=(
            (LOOPBACK, options.nsqlookupd_tcp_port),
            (LOOPBACK, options.nsqlookupd_http_port),
        ),
        detail=f"tcp {lookupd_tcp}",
    )
    memory = options.nsqd_mem_queue_size
    return [lookupd, *(_nsqd_component(node, lookupd_tcp, memory) for node in nodes)]


def _nsqd_component(node: NsqdNode, lookupd_tcp: str, mem_queue_size: int | None) -> Component:
    http = f"{LOOPBACK}:{node.http_port}"
    return Component(
        name=node.name,
        kind="nsqd",
        command=(
            "nsqd",
            *([f"--node-id={node.node_id}"] if node.node_id is not None else []),
            f"--tcp-address={node.tcp_address}",
            f"--http-address={http}",
            f"--data-path={node.data_dir}",
            f"--lookupd-tcp-address={lookupd_tcp}",
            f"--broadcast-address={LOOPBACK}",
            *([f"--mem-queue-size={mem_queue_size}"] if mem_queue_size is not None else []),
        ),
        url=f"http://{http}",
        health_url=f"http://{http}/ping",
        health_body="OK",
        required_binary="nsqd",
        listens=((LOOPBACK, node.tcp_port), (LOOPBACK, node.http_port)),
        detail=f"tcp {node.tcp_address}",
    )


def harborhook_components(
    settings: Settings,
    transport: Transport,
    python: str,
    worker_metrics_ports: Sequence[int] | None = None,
) -> list[Component]:
    """HarborHook's own processes: ingest, the workers and the backlog monitor
    (``harborctl run``), started by ``up`` once the infrastructure is healthy."""
    harborctl_cmd = (python, "-m", "harborctl")
    ports = list(worker_metrics_ports or [settings.worker_metrics_port])
    workers = [
        Component(
            name=numbered("worker", index, len(ports)),
            kind="worker",
            command=(*harborctl_cmd, "run", "worker", "--metrics-port", str(port)),
            url=_http(LOOPBACK, port, "/metrics"),
            health_url=_http(LOOPBACK, port, "/metrics"),
            listens=((LOOPBACK, port),),
            detail=f"transport {transport}",
            stage=STAGE_HARBORHOOK,
        )
        for index, port in enumerate(ports, start=1)
    ]
    return [
        Component(
            name="ingest",
            command=(*harborctl_cmd, "run", "ingest"),
            url=_http(settings.ingest_host, settings.ingest_port),
            health_url=_http(settings.ingest_host, settings.ingest_port, "/healthz"),
            listens=((settings.ingest_host, settings.ingest_port),),
            detail="HTTP API, /docs",
            stage=STAGE_HARBORHOOK,
        ),
        *workers,
        Component(
            name="monitor",
            command=(*harborctl_cmd, "run", "monitor", "--port", str(settings.monitor_port)),
            url=_http(settings.monitor_host, settings.monitor_port, "/metrics"),
            health_url=_http(settings.monitor_host, settings.monitor_port, "/healthz"),
            listens=((settings.monitor_host, settings.monitor_port),),
            detail="backlog (NSQ + database) on /metrics",
            stage=STAGE_HARBORHOOK,
        ),
    ]


def alertmanager_component(
    settings: Settings, layout: StateLayout, which: Callable[[str], str | None]
) -> Component:
    """A single-node Alertmanager (no gossip port) reading the generated alertmanager.yml."""
    listen = f"{LOOPBACK}:{settings.alertmanager_port}"
    binary = next((b for b in ALERTMANAGER_BINARIES if which(b)), ALERTMANAGER_BINARIES[0])
    return Component(
        name="alertmanager",
        command=(
            binary,
            f"--config.file={layout.alertmanager_config}",
            f"--storage.path={layout.alertmanager_data_dir}",
            f"--web.listen-address={listen}",
            "--cluster.listen-address=",  # empty: no gossip port, single node
        ),
        url=f"http://{listen}",
        health_url=f"http://{listen}/-/ready",
        required_binary=binary,
        listens=((LOOPBACK, settings.alertmanager_port),),
        detail="alerts",
        stage=STAGE_INDEPENDENT,
    )


def prometheus_component(settings: Settings, layout: StateLayout) -> Component:
    """Prometheus with the generated prometheus.yml; ``/-/reload`` on (lifecycle API), and the
    admin API on loopback, with which ``harborctl demo`` deletes its own tenant's series so the
    normal rules never alert on its deliberate errors."""
    listen = f"{LOOPBACK}:{settings.prometheus_port}"
    return Component(
        name="prometheus",
        command=(
            PROMETHEUS_BINARY,
            f"--config.file={layout.prometheus_config}",
            f"--storage.tsdb.path={layout.prometheus_data_dir}",
            f"--web.listen-address={listen}",
            "--web.enable-lifecycle",
            "--web.enable-admin-api",
            # keep the trace_id exemplars of the latency histograms (dashboards link them)
            "--enable-feature=exemplar-storage",
        ),
        url=f"http://{listen}",
        health_url=f"http://{listen}/-/ready",
        required_binary=PROMETHEUS_BINARY,
        listens=((LOOPBACK, settings.prometheus_port),),
        detail="scrapes ingest, worker, monitor, itself and alertmanager",
        stage=STAGE_INDEPENDENT,
    )


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
) -> dict[str, str]:
    """The environment every child sees: the caller's HARBORHOOK_* plus what the stack decides
    (the ingest publishes to every nsqd in ``nsqd_tcp_addresses``; ``database_url`` when the
    stack chose the database)."""
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
    stack runs, so `harborctl alerts ...` talks to them).

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
        if component.name in ("prometheus", "alertmanager"):
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
    components = _installed(catalog, which, notes)
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


def _installed(
    catalog: list[Component], which: Callable[[str], str | None], notes: list[str]
) -> list[Component]:
    """The components whose binary is on PATH (resolved to its path); a note for each skip."""
    components: list[Component] = []
    for component in catalog:
        if component.required_binary is not None:
            resolved = which(component.required_binary)
            if resolved is None:
                notes.append(f"{component.name}: {component.required_binary} not on PATH, skipped")
                continue
            component = replace(component, command=(resolved, *component.command[1:]))
        components.append(component)
    return components
