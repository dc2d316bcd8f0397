"""The local HarborHook stack: which components run, and the native supervisor that runs them.

Two halves, kept apart:

* planning, pure: ``plan_stack(settings, options, which=..., environ=...)`` decides the
  components (a ``Component`` each: name, argv, env, health URL, required binary), the transport
  and the paths, and ``render_supervisor_config(plan)`` turns that into supervisord's config;
* process I/O: ``NativeStack`` writes the config, starts supervisord (daemonized, listening on a
  unix socket in ``<state_dir>/run/``, never TCP), waits until every component answers its
  health check, reports status and shuts supervisord down again, over XML-RPC on that socket.

Adding a component (Prometheus, Alertmanager, ...) is one more ``Component`` in
``component_catalog``; a component whose ``required_binary`` is not on PATH is skipped.
"""

from __future__ import annotations

import errno
import fcntl
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import httpx

import harborctl
from harborctl.errors import StackError
from harborctl.layout import StateLayout
from harborctl.ops.prometheus import alertmanager_dir, prepare_stack_configs, prometheus_dir
from harborctl.ops.render import render_template, write_file
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

SUPERVISOR_TEMPLATE = "supervisord.conf.j2"
DEFAULT_START_TIMEOUT = 60.0
# supervisord's stopwaitsecs: the worker's shutdown grace plus a margin before SIGKILL.
STOP_MARGIN_SECONDS = 5
MIN_STOP_WAIT_SECONDS = 30
# sun_path is 108 bytes on Linux (104 on macOS), including the trailing NUL.
MAX_SOCKET_PATH = 103

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
class StackPaths:
    """Everything the native stack keeps in the state dir."""

    state_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> StackPaths:
        return cls(settings.state_dir.expanduser().absolute())

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def socket(self) -> Path:
        return self.run_dir / "supervisord.sock"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def config(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def stack_file(self) -> Path:
        """The plan ``up`` started, so ``status``/``down`` act on exactly that."""
        return self.run_dir / "stack.json"

    @property
    def settings_file(self) -> Path:
        """What the running stack decided (transport, addresses), read by every CLI command."""
        return StateLayout.at(self.state_dir).stack_settings_file

    @property
    def supervisord_log(self) -> Path:
        return self.logs_dir / "supervisord.log"

    @property
    def supervisord_output(self) -> Path:
        """stdout/stderr of the supervisord launcher (config errors land here)."""
        return self.logs_dir / "supervisord.out"

    @property
    def nsqd_data(self) -> Path:
        return self.state_dir / "nsqd"

    def component_log(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"


@dataclass(frozen=True)
class StackPlan:
    paths: StackPaths
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
            "state_dir": str(self.paths.state_dir),
            "transport": self.transport,
            "stop_wait_seconds": self.stop_wait_seconds,
            "notes": list(self.notes),
            "components": [{**component.to_dict(), "env": {}} for component in self.components],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StackPlan:
        transport = data.get("transport")
        return cls(
            paths=StackPaths(Path(str(data["state_dir"]))),
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
    paths: StackPaths,
    transport: Transport,
    python: str,
    which: Callable[[str], str | None] = shutil.which,
) -> list[Component]:
    """Every component the stack would run for this transport, in start order."""
    harborctl_cmd = (python, "-m", "harborctl")
    components: list[Component] = []
    if transport == "nsq":
        lookupd_tcp = f"{LOOPBACK}:{options.nsqlookupd_tcp_port}"
        lookupd_http = f"{LOOPBACK}:{options.nsqlookupd_http_port}"
        nsqd_tcp = f"{LOOPBACK}:{options.nsqd_tcp_port}"
        nsqd_http = f"{LOOPBACK}:{options.nsqd_http_port}"
        components += [
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
                    f"--data-path={paths.nsqd_data}",
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
    components += [
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
    prom_dir, am_dir = prometheus_dir(settings), alertmanager_dir(settings)
    am_listen = f"{LOOPBACK}:{settings.alertmanager_port}"
    am_binary = next((b for b in ALERTMANAGER_BINARIES if which(b)), ALERTMANAGER_BINARIES[0])
    prom_listen = f"{LOOPBACK}:{settings.prometheus_port}"
    components += [
        Component(
            name="alertmanager",
            command=(
                am_binary,
                f"--config.file={am_dir / 'alertmanager.yml'}",
                f"--storage.path={am_dir / 'data'}",
                f"--web.listen-address={am_listen}",
                "--cluster.listen-address=",  # empty: no gossip port, single node
            ),
            url=f"http://{am_listen}",
            health_url=f"http://{am_listen}/-/ready",
            required_binary=am_binary,
            listens=((LOOPBACK, settings.alertmanager_port),),
            detail="alerts",
        ),
        Component(
            name="prometheus",
            command=(
                PROMETHEUS_BINARY,
                f"--config.file={prom_dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={prom_dir / 'data'}",
                f"--web.listen-address={prom_listen}",
                "--web.enable-lifecycle",
            ),
            url=f"http://{prom_listen}",
            health_url=f"http://{prom_listen}/-/ready",
            required_binary=PROMETHEUS_BINARY,
            listens=((LOOPBACK, settings.prometheus_port),),
            detail="scrapes ingest, worker, monitor",
        ),
    ]
    return components


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
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the log files as they are written
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


def stack_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The stack's decisions as settings values (``api_url`` follows the ingest address)."""
    values: dict[str, object] = {}
    for name in _SHARED_SETTINGS:
        raw = env.get(ENV_PREFIX + name)
        if raw is None:
            continue
        values[name.lower()] = json.loads(raw) if raw.startswith("[") else raw
    if ENV_PREFIX + "INGEST_PORT" in env:
        host = env.get(ENV_PREFIX + "INGEST_HOST", LOOPBACK)
        values["api_url"] = f"http://{host}:{env[ENV_PREFIX + 'INGEST_PORT']}"
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
    paths = StackPaths.from_settings(settings)
    notes: list[str] = []
    missing_nsq = [binary for binary in NSQ_BINARIES if which(binary) is None]
    if not options.nsq:
        transport: Transport = "db"
        notes.append("NSQ disabled (--no-nsq): transport db")
    elif missing_nsq:
        transport = "db"
        notes.append(f"{' and '.join(missing_nsq)} not on PATH: NSQ not started, transport db")
    else:
        transport = "nsq"

    components: list[Component] = []
    for component in component_catalog(settings, options, paths, transport, python, which):
        if component.required_binary is not None:
            resolved = which(component.required_binary)
            if resolved is None:
                notes.append(f"{component.name}: {component.required_binary} not on PATH, skipped")
                continue
            component = replace(component, command=(resolved, *component.command[1:]))
        components.append(component)

    grace = max(MIN_STOP_WAIT_SECONDS, int(settings.worker_shutdown_grace + 0.999))
    return StackPlan(
        paths=paths,
        transport=transport,
        components=tuple(components),
        env=stack_environment(settings, options, paths.state_dir, transport, environ),
        stop_wait_seconds=grace + STOP_MARGIN_SECONDS,
        notes=tuple(notes),
        settings=settings,
    )


# supervisord reads its config with inline comments (' ;', ' #') and %(name)s expansion
_INLINE_COMMENT = re.compile(r"\s[;#]")


def _ini_value(value: str, what: str) -> str:
    """``value`` made safe for one line of supervisord's config."""
    if any(char in value for char in "\r\n\0"):
        raise StackError(f"{what}: a line break or NUL cannot go into supervisord's config")
    if _INLINE_COMMENT.search(value):
        raise StackError(f"{what}: ' ;' or ' #' would be read as a comment by supervisord")
    return value.replace("%", "%%")


def _env_item(key: str, value: str) -> str:
    """``KEY='value'`` as supervisord's ``environment=`` parser (non-POSIX shlex) reads it."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise StackError(f"environment variable {key!r}: not a valid name for supervisord")
    quotes = ("'", '"')
    if value.startswith(quotes) or value.endswith(quotes) or all(q in value for q in quotes):
        raise StackError(
            f"environment variable {key}: supervisord cannot carry a value that starts or ends "
            "with a quote, or holds both kinds of quote"
        )
    quote = '"' if "'" in value else "'"
    return f"{key}={quote}{value}{quote}"


def supervisor_environment(env: Mapping[str, str]) -> str:
    return ",".join(_env_item(key, value) for key, value in sorted(env.items()))


def render_supervisor_config(plan: StackPlan) -> str:
    paths = plan.paths
    supervisor = {
        "socket": _ini_value(str(paths.socket), "socket path"),
        "logfile": _ini_value(str(paths.supervisord_log), "log path"),
        "pidfile": _ini_value(str(paths.pidfile), "pidfile path"),
        "directory": _ini_value(str(paths.state_dir), "state dir"),
        "logs_dir": _ini_value(str(paths.logs_dir), "logs dir"),
    }
    programs = [
        {
            "name": component.name,
            "command": _ini_value(shlex.join(component.command), f"{component.name} command"),
            "environment": _ini_value(
                supervisor_environment({**plan.env, **component.env}),
                f"{component.name} environment",
            ),
            "priority": (index + 1) * 10,
            "stopwaitsecs": plan.stop_wait_seconds,
            "logfile": _ini_value(str(paths.component_log(component.name)), "log path"),
        }
        for index, component in enumerate(plan.components)
    ]
    return render_template(SUPERVISOR_TEMPLATE, supervisor=supervisor, programs=programs)


# --------------------------------------------------------------------------- status model


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


@dataclass(frozen=True)
class ProcessInfo:
    """One program as supervisord reports it."""

    name: str
    state: str
    pid: int | None
    uptime_seconds: float | None
    description: str
    exitstatus: int

    @classmethod
    def from_rpc(cls, info: Mapping[str, Any]) -> ProcessInfo:
        state = str(info.get("statename", "UNKNOWN"))
        start, now = int(info.get("start") or 0), int(info.get("now") or 0)
        running = state == "RUNNING" and start > 0
        return cls(
            name=str(info.get("name")),
            state=state,
            pid=int(info.get("pid") or 0) or None,
            uptime_seconds=float(now - start) if running else None,
            description=str(info.get("description") or ""),
            exitstatus=int(info.get("exitstatus") or 0),
        )


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str
    pid: int | None
    uptime_seconds: float | None
    healthy: bool
    health: str
    url: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StackStatus:
    state_dir: Path
    transport: str
    supervisord_pid: int | None
    components: tuple[ComponentStatus, ...]
    notes: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return bool(self.components) and all(c.healthy for c in self.components)

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": True,
            "mode": "native",
            "healthy": self.healthy,
            "state_dir": str(self.state_dir),
            "transport": self.transport,
            "supervisord_pid": self.supervisord_pid,
            "components": [component.to_dict() for component in self.components],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class ComponentFailure:
    name: str
    reason: str
    log_file: Path
    log_tail: tuple[str, ...]


class StackStartFailed(StackError):
    """``up`` gave up: components did not become healthy (everything was stopped again)."""

    def __init__(self, message: str, failures: Iterable[ComponentFailure] = ()) -> None:
        super().__init__(message)
        self.failures = tuple(failures)


@dataclass(frozen=True)
class UpResult:
    already_running: bool
    status: StackStatus


@dataclass(frozen=True)
class DownResult:
    was_running: bool
    supervisord_pid: int | None = None
    stopped_pids: tuple[int, ...] = ()
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- process I/O


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisord's unix socket, with a timeout (supervisor's own has none)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__()
        self._socket_path = str(path)
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixHTTPConnection(self._socket_path, self._timeout)


class SupervisorClient:
    """supervisord's XML-RPC API on its unix socket; failures become StackError."""

    def __init__(self, socket_path: Path, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def call(self, method: str, *args: Any) -> Any:
        transport = _UnixTransport(self.socket_path, self.timeout)
        try:
            with xmlrpc.client.ServerProxy("http://localhost", transport=transport) as proxy:
                return getattr(proxy, method)(*args)
        except xmlrpc.client.Fault as exc:
            raise StackError(f"supervisord refused {method}: {exc.faultString}") from exc
        except (OSError, http.client.HTTPException, xmlrpc.client.Error) as exc:
            raise StackError(f"supervisord not reachable on {self.socket_path}: {exc}") from exc

    def state(self) -> str:
        return str(self.call("supervisor.getState")["statename"])

    def pid(self) -> int:
        return int(self.call("supervisor.getPID"))

    def processes(self) -> dict[str, ProcessInfo]:
        infos = (ProcessInfo.from_rpc(info) for info in self.call("supervisor.getAllProcessInfo"))
        return {info.name: info for info in infos}

    def shutdown(self) -> None:
        self.call("supervisor.shutdown")


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (init may be slow to reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat.rpartition(")")[2].split()
    return not fields or fields[0] not in ("Z", "X")


def port_in_use(host: str, port: int) -> bool:
    """True when something listens on host:port (SO_REUSEADDR: TIME_WAIT does not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]") or "0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise StackError(f"cannot check port {host}:{port}: {exc}") from exc
    return False


def tail_lines(path: Path, count: int = 20) -> tuple[str, ...]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 64 * 1024))
            data = handle.read()
    except OSError:
        return ()
    return tuple(data.decode("utf-8", "replace").splitlines()[-count:])


def wait_until(condition: Callable[[], bool], deadline: float, interval: float = 0.1) -> bool:
    """Poll ``condition`` until it holds or the monotonic ``deadline`` passes."""
    while True:
        if condition():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))


def probe(component: Component, state: str, client: httpx.Client) -> Health:
    """Live health of one component in supervisord state ``state``."""
    if state != "RUNNING":
        return Health(False, state.lower())
    if component.health_url is None:
        return Health(True, "running")
    try:
        response = client.get(component.health_url)
    except httpx.HTTPError as exc:
        return Health(False, f"{component.health_url}: {type(exc).__name__}")
    if response.status_code != 200:
        return Health(False, f"{component.health_url}: HTTP {response.status_code}")
    if component.health_body is not None and response.text.strip() != component.health_body:
        return Health(False, f"{component.health_url}: unexpected body {response.text[:40]!r}")
    return Health(True, "ok")


def _http_client() -> httpx.Client:
    # trust_env=False: never send loopback health checks through an HTTP(S)_PROXY
    return httpx.Client(timeout=httpx.Timeout(2.0), trust_env=False)


# process states in which waiting longer will not help
_GAVE_UP_STATES = frozenset({"FATAL", "UNKNOWN"})
# a component that died twice while `up` waits for it is not going to come up by itself
MAX_STARTS_WHILE_WAITING = 3


class NativeStack:
    """The native stack of one state dir, run by supervisord."""

    def __init__(self, paths: StackPaths, *, rpc_timeout: float = 10.0) -> None:
        self.paths = paths
        self.client = SupervisorClient(paths.socket, timeout=rpc_timeout)

    # ----- observing

    def running(self) -> bool:
        if not self.paths.socket.exists():
            return False
        try:
            self.client.state()
        except StackError:
            return False
        return True

    def started_plan(self) -> StackPlan | None:
        try:
            return StackPlan.from_dict(json.loads(self.paths.stack_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def status(self) -> StackStatus | None:
        """Live status, or None when the stack is not running."""
        if not self.running():
            return None
        plan = self.started_plan()
        supervisord_pid = self.client.pid()
        processes = self.client.processes()
        components = list(plan.components) if plan else []
        known = {component.name for component in components}
        components += [Component(name, (), "") for name in processes if name not in known]
        rows = []
        with _http_client() as http:
            for component in components:
                info = processes.get(component.name)
                state = info.state if info else "MISSING"
                health = probe(component, state, http)
                rows.append(
                    ComponentStatus(
                        name=component.name,
                        state=state,
                        pid=info.pid if info else None,
                        uptime_seconds=info.uptime_seconds if info else None,
                        healthy=health.ok,
                        health=health.detail,
                        url=component.url,
                    )
                )
        return StackStatus(
            state_dir=self.paths.state_dir,
            transport=plan.transport if plan else "unknown",
            supervisord_pid=supervisord_pid,
            components=tuple(rows),
            notes=plan.notes if plan else (),
        )

    # ----- starting

    def up(
        self,
        plan: StackPlan,
        *,
        timeout: float = DEFAULT_START_TIMEOUT,
        progress: Callable[[str], None] = lambda message: None,
    ) -> UpResult:
        """Start the stack and wait until it is healthy; a no-op when it already runs."""
        with self._up_lock():
            return self._up(plan, timeout=timeout, progress=progress)

    @contextmanager
    def _up_lock(self) -> Iterator[None]:
        """One ``up`` at a time per state dir: a second one waits, then finds it running."""
        self.paths.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with (self.paths.run_dir / "up.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _up(self, plan: StackPlan, *, timeout: float, progress: Callable[[str], None]) -> UpResult:
        current = self.status()
        if current is not None:
            return UpResult(already_running=True, status=current)
        self._preflight(plan)
        self._prepare(plan)
        progress("starting supervisord")
        try:
            self._launch_supervisord()
            self._wait_healthy(plan, time.monotonic() + timeout, progress)
            status = self.status()
            if status is None:
                raise StackStartFailed("supervisord went away while starting the stack")
        except BaseException:
            progress("stopping what was started")
            try:
                self.down()
            except StackError as exc:
                raise StackError(f"start failed and so did stopping: {exc}") from exc
            raise
        return UpResult(already_running=False, status=status)

    def _preflight(self, plan: StackPlan) -> None:
        if len(str(self.paths.socket).encode()) > MAX_SOCKET_PATH:
            raise StackError(
                f"state dir {self.paths.state_dir} is too long for supervisord's unix socket "
                f"({self.paths.socket}); choose a shorter --state-dir"
            )
        if self._stale_supervisord_pid() is not None:
            raise StackError(
                f"a supervisord of {self.paths.state_dir} is alive but does not answer on "
                f"{self.paths.socket}; run `harborctl down` first"
            )
        busy = [
            f"{host}:{port} ({component.name})"
            for component in plan.components
            for host, port in component.listens
            if port_in_use(host, port)
        ]
        if busy:
            raise StackError(
                f"port already in use: {', '.join(busy)}; stop what holds it or choose other ports"
            )

    def _prepare(self, plan: StackPlan) -> None:
        paths = self.paths
        paths.state_dir.mkdir(parents=True, exist_ok=True)
        paths.run_dir.mkdir(mode=0o700, exist_ok=True)
        paths.logs_dir.mkdir(exist_ok=True)
        if plan.transport == "nsq":
            paths.nsqd_data.mkdir(exist_ok=True)
        # the environment may carry secrets (HARBORHOOK_ADMIN_KEY, a database password): 0600
        write_file(paths.config, render_supervisor_config(plan), mode=0o600)
        write_file(paths.stack_file, json.dumps(plan.to_dict(), indent=2) + "\n", mode=0o600)
        write_file(paths.settings_file, json.dumps(stack_settings(plan.env), indent=2) + "\n")
        if plan.settings is not None:
            names = [component.name for component in plan.components]
            alertmanager = plan.component("alertmanager").url if "alertmanager" in names else None
            prepare_stack_configs(plan.settings, names, alertmanager)

    def _launch_supervisord(self) -> None:
        paths = self.paths
        command = [sys.executable, "-m", "supervisor.supervisord", "-c", str(paths.config)]
        # output to a file, not a pipe: the daemonized child would hold a pipe open forever
        with paths.supervisord_output.open("ab") as output:
            try:
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=paths.state_dir,
                    start_new_session=True,
                    timeout=30,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise StackError(f"could not start supervisord: {exc}") from exc
        if result.returncode != 0:
            tail = tail_lines(paths.supervisord_output, 10) + tail_lines(paths.supervisord_log, 10)
            raise StackStartFailed(
                f"supervisord exited with status {result.returncode}",
                [ComponentFailure("supervisord", "did not start", paths.supervisord_output, tail)],
            )

    def _wait_healthy(
        self, plan: StackPlan, deadline: float, progress: Callable[[str], None]
    ) -> None:
        if not wait_until(self.running, min(deadline, time.monotonic() + 15)):
            raise StackStartFailed(
                f"supervisord does not answer on {self.paths.socket}",
                [
                    ComponentFailure(
                        "supervisord",
                        "no answer on its socket",
                        self.paths.supervisord_log,
                        tail_lines(self.paths.supervisord_log),
                    )
                ],
            )
        pending = {component.name: Health(False, "starting") for component in plan.components}
        pids_seen: dict[str, set[int]] = {name: set() for name in pending}
        with _http_client() as http:
            while True:
                processes = self.client.processes()
                gave_up: dict[str, str] = {}
                for name in list(pending):
                    info = processes.get(name)
                    if info is None:
                        gave_up[name] = "not known to supervisord"
                        continue
                    if info.pid is not None:
                        pids_seen[name].add(info.pid)
                    health = probe(plan.component(name), info.state, http)
                    if health.ok:
                        del pending[name]
                        continue
                    pending[name] = health
                    starts = len(pids_seen[name])
                    if info.state in _GAVE_UP_STATES:
                        gave_up[name] = f"{info.state.lower()}: {info.description}"
                    elif starts >= MAX_STARTS_WHILE_WAITING:
                        gave_up[name] = f"exited {starts - 1} times while starting"
                if not pending:
                    return
                if not gave_up and time.monotonic() >= deadline:
                    gave_up = {
                        name: f"not healthy after the deadline ({health.detail})"
                        for name, health in pending.items()
                    }
                if gave_up:
                    raise StackStartFailed(
                        "not healthy: " + ", ".join(f"{n} ({why})" for n, why in gave_up.items()),
                        [
                            ComponentFailure(
                                name,
                                why,
                                self.paths.component_log(name),
                                tail_lines(self.paths.component_log(name)),
                            )
                            for name, why in gave_up.items()
                        ],
                    )
                progress("waiting for " + ", ".join(sorted(pending)))
                time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    # ----- stopping

    def _stale_supervisord_pid(self) -> int | None:
        """The pid of a live supervisord of this state dir that we cannot reach by socket."""
        try:
            pid = int(self.paths.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        ours = str(self.paths.config).encode() in cmdline and any(
            b"supervisord" in arg for arg in cmdline
        )
        return pid if ours else None

    def down(self, timeout: float | None = None) -> DownResult:
        """Shut supervisord (and with it every component) down; wait until its pid is gone."""
        plan = self.started_plan()
        children: tuple[int, ...] = ()
        if self.running():
            supervisord_pid = self.client.pid()
            children = tuple(
                info.pid for info in self.client.processes().values() if info.pid is not None
            )
            # already shutting down, or just gone: the pid wait below decides
            with suppress(StackError):
                self.client.shutdown()
        else:
            stale = self._stale_supervisord_pid()
            if stale is None:
                self._forget()
                return DownResult(was_running=False)
            supervisord_pid = stale
            os.kill(stale, signal.SIGTERM)  # supervisord shuts down cleanly on TERM too
        if timeout is None:
            count = len(plan.components) if plan else 4
            stop_wait = plan.stop_wait_seconds if plan else MIN_STOP_WAIT_SECONDS
            timeout = stop_wait * max(count, 1) + 10.0
        deadline = time.monotonic() + timeout
        forced = not wait_until(lambda: not pid_alive(supervisord_pid), deadline, 0.1)
        if forced:
            _kill(supervisord_pid, group=False)
        for pid in children:
            if pid_alive(pid):
                forced = True
                _kill(pid, group=True)
        self._forget()
        return DownResult(
            was_running=True,
            supervisord_pid=supervisord_pid,
            stopped_pids=children,
            forced=forced,
        )

    def _forget(self) -> None:
        """Remove what a stopped stack leaves behind (never while its supervisord lives)."""
        if self._stale_supervisord_pid() is None:
            for path in (
                self.paths.stack_file,
                self.paths.settings_file,
                self.paths.socket,
                self.paths.pidfile,
            ):
                path.unlink(missing_ok=True)


def _kill(pid: int, *, group: bool) -> None:
    """SIGKILL a leftover of the stack (its process group when it leads one)."""
    try:
        if group and os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------- compose detection


def repo_root() -> Path:
    return Path(harborctl.__file__).resolve().parent.parent


def compose_file() -> Path:
    return repo_root() / "deploy" / "docker" / "docker-compose.yml"


def docker_engine_reachable(timeout: float = 5.0) -> bool:
    """True when ``docker info`` reaches an engine (fails fast when there is none)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())
