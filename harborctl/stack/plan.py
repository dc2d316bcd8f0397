"""What the native stack runs, decided without touching a process or a file (pure).

``plan_stack(settings, options, which=..., environ=...)`` picks the transport (NSQ when
nsqd and nsqlookupd are on PATH and not switched off), the components (a ``Component`` each:
name, argv, env, health URL, required binary) and the environment every child sees. Adding
a component (Prometheus, Alertmanager, ...) is one more ``Component`` in
``component_catalog``; a component whose ``required_binary`` is not on PATH is skipped with
a note. Paths come from the state dir's ``StateLayout``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from harborctl.layout import StateLayout
from harborctl.settings import ENV_PREFIX, Settings

# Stack-only defaults (not settings yet): NSQ's own default ports, on loopback.
LOOPBACK = "127.0.0.1"
DEFAULT_NSQD_TCP_PORT = 4150
DEFAULT_NSQD_HTTP_PORT = 4151
DEFAULT_NSQLOOKUPD_TCP_PORT = 4160
DEFAULT_NSQLOOKUPD_HTTP_PORT = 4161
NSQ_BINARIES = ("nsqlookupd", "nsqd")
PROMETHEUS_BINARY = "prometheus"
# Debian names it prometheus-alertmanager; upstream tarballs alertmanager
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")

# supervisord's stopwaitsecs: the worker's shutdown grace plus a margin before SIGKILL.
STOP_MARGIN_SECONDS = 5
MIN_STOP_WAIT_SECONDS = 30

Transport = Literal["db", "nsq"]


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Component:
    """One supervised process of the stack.

    ``command[0]`` is the program: a binary name when ``required_binary`` is set (resolved on
    PATH by the planner, the component is skipped when it is missing), else an absolute path.
    ``env`` is added on top of the stack-wide environment. Health is ``GET health_url`` answering
    200 (and exactly ``health_body`` when set); without a health URL, RUNNING counts as healthy.
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
        )


@dataclass(frozen=True)
class StackOptions:
    """What ``harborctl up`` adds on top of the settings."""

    nsq: bool = True
    nsqd_tcp_port: int = DEFAULT_NSQD_TCP_PORT
    nsqd_http_port: int = DEFAULT_NSQD_HTTP_PORT
    nsqlookupd_tcp_port: int = DEFAULT_NSQLOOKUPD_TCP_PORT
    nsqlookupd_http_port: int = DEFAULT_NSQLOOKUPD_HTTP_PORT


@dataclass(frozen=True)
class StackPlan:
    """What ``up`` starts: the components in start order, their environment and where."""

    layout: StateLayout
    transport: Transport
    components: tuple[Component, ...]
    env: Mapping[str, str]
    stop_wait_seconds: int
    notes: tuple[str, ...] = ()
    # what `up` renders configs from (Prometheus, Alertmanager); not kept in the state file
    settings: Settings | None = field(default=None, compare=False, repr=False)

    def component(self, name: str) -> Component:
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """What the state file keeps (no environment: it may carry secrets)."""
        return {
            "state_dir": str(self.layout.root),
            "transport": self.transport,
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
        )


# --------------------------------------------------------------------------- planning (pure)


def _url_host(host: str) -> str:
    """The host to put in a URL: wildcard listen addresses are reached on loopback."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        return LOOPBACK
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _http(host: str, port: int, path: str = "") -> str:
    return f"http://{_url_host(host)}:{port}{path}"


def component_catalog(
    settings: Settings,
    options: StackOptions,
    layout: StateLayout,
    transport: Transport,
    python: str,
    which: Callable[[str], str | None] = shutil.which,
) -> list[Component]:
    """Every component the stack would run for this transport, in start order."""
    return [
        *(nsq_components(options, layout) if transport == "nsq" else []),
        *harborhook_components(settings, transport, python),
        alertmanager_component(settings, layout, which),
        prometheus_component(settings, layout),
    ]


def nsq_components(options: StackOptions, layout: StateLayout) -> list[Component]:
    """nsqlookupd, then nsqd registering with it; both on loopback, both answer /ping."""
    lookupd_tcp = f"{LOOPBACK}:{options.nsqlookupd_tcp_port}"
    lookupd_http = f"{LOOPBACK}:{options.nsqlookupd_http_port}"
    nsqd_tcp = f"{LOOPBACK}:{options.nsqd_tcp_port}"
    nsqd_http = f"{LOOPBACK}:{options.nsqd_http_port}"
    return [
        Component(
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
        ),
        Component(
            name="nsqd",
            command=(
                "nsqd",
                f"--tcp-address={nsqd_tcp}",
                f"--http-address={nsqd_http}",
                f"--data-path={layout.nsqd_data_dir}",
                f"--lookupd-tcp-address={lookupd_tcp}",
                f"--broadcast-address={LOOPBACK}",
            ),
            url=f"http://{nsqd_http}",
            health_url=f"http://{nsqd_http}/ping",
            health_body="OK",
            required_binary="nsqd",
            listens=((LOOPBACK, options.nsqd_tcp_port), (LOOPBACK, options.nsqd_http_port)),
            detail=f"tcp {nsqd_tcp}",
        ),
    ]


def harborhook_components(settings: Settings, transport: Transport, python: str) -> list[Component]:
    """HarborHook's own processes: ingest, worker and the backlog monitor (``harborctl run``)."""
    harborctl_cmd = (python, "-m", "harborctl")
    return [
        Component(
            name="ingest",
            command=(*harborctl_cmd, "run", "ingest"),
            url=_http(settings.ingest_host, settings.ingest_port),
            health_url=_http(settings.ingest_host, settings.ingest_port, "/healthz"),
            listens=((settings.ingest_host, settings.ingest_port),),
            detail="HTTP API, /docs",
        ),
        Component(
            name="worker",
            command=(
                *harborctl_cmd,
                "run",
                "worker",
                "--metrics-port",
                str(settings.worker_metrics_port),
            ),
            url=_http(LOOPBACK, settings.worker_metrics_port, "/metrics"),
            health_url=_http(LOOPBACK, settings.worker_metrics_port, "/metrics"),
            listens=((LOOPBACK, settings.worker_metrics_port),),
            detail=f"transport {transport}",
        ),
        Component(
            name="monitor",
            command=(*harborctl_cmd, "run", "monitor", "--port", str(settings.monitor_port)),
            url=_http(settings.monitor_host, settings.monitor_port, "/metrics"),
            health_url=_http(settings.monitor_host, settings.monitor_port, "/healthz"),
            listens=((settings.monitor_host, settings.monitor_port),),
            detail="backlog (NSQ + database) on /metrics",
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
) -> dict[str, str]:
    """The environment every child sees: the caller's HARBORHOOK_* plus what the stack decides."""
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
            ENV_PREFIX + "WORKER_METRICS_PORT": str(settings.worker_metrics_port),
        }
    )
    if transport == "nsq":
        # JSON lists: how pydantic-settings parses list-valued environment variables
        env[ENV_PREFIX + "NSQD_TCP_ADDRESSES"] = json.dumps([f"{LOOPBACK}:{options.nsqd_tcp_port}"])
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
    env: Mapping[str, str], components: Sequence[Component] = ()
) -> dict[str, object]:
    """The stack's decisions as settings values (``api_url`` follows the ingest address;
    ``prometheus_url``/``alertmanager_url`` are those of the Prometheus and Alertmanager the
    stack runs, so `harborctl alerts ...` talks to them)."""
    values: dict[str, object] = {}
    for name in _SHARED_SETTINGS:
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


def plan_stack(
    settings: Settings,
    options: StackOptions | None = None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    environ: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> StackPlan:
    """Decide what the native stack runs; no process or file is touched."""
    options = options or StackOptions()
    environ = os.environ if environ is None else environ
    layout = settings.layout
    transport, notes = choose_transport(options, which)
    if not settings.outbound_allow_cidrs:
        notes.append(
            "outbound request guard: loopback allowed for local receivers "
            f"({', '.join(LOCAL_STACK_OUTBOUND_ALLOW)}); set outbound_allow_cidrs to choose"
        )
    catalog = component_catalog(settings, options, layout, transport, python, which)
    components = _installed(catalog, which, notes)
    grace = max(MIN_STOP_WAIT_SECONDS, int(settings.worker_shutdown_grace + 0.999))
    return StackPlan(
        layout=layout,
        transport=transport,
        components=tuple(components),
        env=stack_environment(settings, options, layout.root, transport, environ),
        stop_wait_seconds=grace + STOP_MARGIN_SECONDS,
        notes=tuple(notes),
        settings=settings,
    )


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
