"""supervisord, the process supervisor of the native stack: its config and its XML-RPC API.

``render_supervisor_config(plan)`` turns a ``StackPlan`` into supervisord's ini text (pure;
values supervisord would misread are refused with ``StackError``); ``SupervisorClient``
talks to a running supervisord over its unix socket in ``<state_dir>/run/`` (never TCP).
"""

from __future__ import annotations

import http.client
import re
import shlex
import socket
import xmlrpc.client
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborctl.errors import StackError
from harborctl.render import render_template
from harborctl.stack.model import AUTOSTART_STAGES, StackPlan

SUPERVISOR_TEMPLATE = "supervisord.conf.j2"

# --------------------------------------------------------------------------- config (pure)

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
    """``env`` as the value of supervisord's ``environment=`` (sorted, quoted)."""
    return ",".join(_env_item(key, value) for key, value in sorted(env.items()))


_STOP_SIGNALS = frozenset({"TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2"})


def _stop_signal(name: str, component: str) -> str:
    if name not in _STOP_SIGNALS:
        raise StackError(f"{component}: supervisord cannot stop a program with signal {name!r}")
    return name


def render_supervisor_config(plan: StackPlan) -> str:
    """supervisord's config for ``plan``: one program per component, in start order; the
    stage-1 ones (HarborHook's) when ``up`` starts them, the others with supervisord."""
    layout = plan.layout
    supervisor = {
        "socket": _ini_value(str(layout.supervisor_socket), "socket path"),
        "logfile": _ini_value(str(layout.supervisor_log), "log path"),
        "pidfile": _ini_value(str(layout.supervisor_pidfile), "pidfile path"),
        "directory": _ini_value(str(layout.root), "state dir"),
        "logs_dir": _ini_value(str(layout.process_logs_dir), "logs dir"),
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
            "autostart": "true" if component.stage in AUTOSTART_STAGES else "false",
            "stopsignal": _stop_signal(component.stop_signal, component.name),
            "stopwaitsecs": plan.stop_wait_seconds,
            "logfile": _ini_value(str(layout.process_log(component.name)), "log path"),
        }
        for index, component in enumerate(plan.components)
    ]
    return render_template(SUPERVISOR_TEMPLATE, supervisor=supervisor, programs=programs)


# --------------------------------------------------------------------------- XML-RPC client


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

    def start(self, name: str) -> None:
        """Start a program that is not running (returns at once; ``up`` watches its health)."""
        self.call("supervisor.startProcess", name, False)

    def stop(self, name: str, *, wait: bool = True) -> None:
        """Stop a running program with its stop signal; ``wait``: until it has stopped (up to
        its ``stopwaitsecs``, then supervisord kills it). StackError when it is not running."""
        self.call("supervisor.stopProcess", name, wait)
