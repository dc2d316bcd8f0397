"""The native stack's model: what a component, the options of ``up`` and a plan are (data).

``Component`` is one supervised process; ``StackOptions`` what ``harborctl up`` adds on top of
the settings; ``StackPlan`` what ``up`` starts (``harborctl.stack.plan`` decides it, the
component builders are in ``harborctl.stack.components``). The plan is kept in the state dir
(``to_dict``/``from_dict``) so ``status`` and ``down`` act on exactly what was started.

Start stages: supervisord starts the infrastructure (stage 0: NSQ daemons, PostgreSQL, Jaeger)
and what depends on nothing (stage 2: Prometheus, Alertmanager) at once; ``up`` starts
HarborHook's own processes (stage 1) when the infrastructure is healthy and the database is
created and migrated; then it waits for stages 1 and 2 together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harborctl.layout import StateLayout

if TYPE_CHECKING:
    from harborctl.settings import Settings
    from harborctl.stack.postgres import PostgresCluster

# Stack-only defaults (not settings yet): NSQ's own default ports, on loopback.
LOOPBACK = "127.0.0.1"
DEFAULT_NSQD_TCP_PORT = 4150
DEFAULT_NSQD_HTTP_PORT = 4151
DEFAULT_NSQLOOKUPD_TCP_PORT = 4160
DEFAULT_NSQLOOKUPD_HTTP_PORT = 4161
# not 5432: a PostgreSQL of the machine keeps its port
DEFAULT_POSTGRES_PORT = 5442
STACK_DATABASE = "harborhook"

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
