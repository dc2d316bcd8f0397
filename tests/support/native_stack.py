"""`harborctl up` / `status` / `down` as a user runs them: a stack in a state dir of a test.

``native_stack(tmp_path)`` gives a ``Stack`` whose ``run``/``run_json`` call ``python -m
harborctl`` with an environment of free loopback ports (no caller's ``HARBORHOOK_*``), and
on the way out runs ``harborctl down``, deletes the stack's PostgreSQL cluster if it had one,
and SIGKILLs by pid whatever of that state dir survived (never by name).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harborctl.layout import StateLayout
from harborctl.stack.postgres import remove_stack_cluster
from tests.support.services import free_ports

COMMAND_TIMEOUT = 180.0
# the optional components `up` starts when installed, in start order (after the monitor)
OBSERVABILITY = [
    name
    for name, binaries in (
        ("alertmanager", ("prometheus-alertmanager", "alertmanager")),
        ("prometheus", ("prometheus",)),
        ("jaeger", ("jaeger",)),
    )
    if any(shutil.which(binary) for binary in binaries)
]


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def alive(pid: int) -> bool:
    """Exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def poll(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def pids_of_state_dir(state_dir: Path) -> list[int]:
    """Processes whose environment names this (unique, temporary) state dir."""
    marker = f"HARBORHOOK_STATE_DIR={state_dir}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker in environ:
            pids.append(int(entry.name))
    return pids


def pids_using(path: Path) -> list[int]:
    """Processes with ``path`` in their command line (a PostgreSQL data dir, say)."""
    marker = str(path).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(entry.name))
    return pids


@dataclass
class Stack:
    state_dir: Path
    env: dict[str, str]
    ports: dict[str, int]
    seen_pids: set[int] = field(default_factory=set)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "harborctl", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def run_json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        result = self.run(*args, "--json")
        assert result.returncode == expect, (
            f"harborctl {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n{self.logs()}"
        )
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def up_args(self, *extra: str) -> list[str]:
        return [
            "up",
            "--nsqd-tcp-port",
            str(self.ports["nsqd_tcp"]),
            "--nsqd-http-port",
            str(self.ports["nsqd_http"]),
            "--nsqlookupd-tcp-port",
            str(self.ports["nsqlookupd_tcp"]),
            "--nsqlookupd-http-port",
            str(self.ports["nsqlookupd_http"]),
            "--timeout",
            "90",
            *extra,
        ]

    def remember(self, status: dict[str, Any]) -> None:
        if status.get("supervisord_pid"):
            self.seen_pids.add(int(status["supervisord_pid"]))
        self.seen_pids.update(int(c["pid"]) for c in status.get("components", []) if c["pid"])

    def logs(self) -> str:
        logs_dir = self.state_dir / "logs"
        if not logs_dir.is_dir():
            return ""
        parts = []
        for log in sorted(logs_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)


def teardown(stack: Stack) -> None:
    with contextlib.suppress(Exception):
        stack.run("down")
    # last resort, by pid only: supervisord from its pidfile, then anything of this state dir
    pidfile = stack.state_dir / "run" / "supervisord.pid"
    layout = StateLayout.at(stack.state_dir)
    cluster = layout.postgres_dir.resolve() if layout.postgres_dir.exists() else None
    leftovers = set(stack.seen_pids) | set(pids_of_state_dir(stack.state_dir))
    if cluster is not None:
        leftovers |= set(pids_using(cluster))
    with contextlib.suppress(OSError, ValueError):
        leftovers.add(int(pidfile.read_text().strip()))
    for pid in leftovers:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    remove_stack_cluster(layout)


BASE_PORTS = (
    "ingest",
    "worker_metrics",
    "nsqd_tcp",
    "nsqd_http",
    "nsqlookupd_tcp",
    "monitor",
    "prometheus",
    "alertmanager",
    "nsqlookupd_http",
    "jaeger_otlp",
    "jaeger_query",
    "jaeger_grpc",
    "jaeger_health",
)


@contextlib.contextmanager
def native_stack(tmp_path: Path, extra_ports: Sequence[str] = ()) -> Iterator[Stack]:
    """A ``Stack`` in ``tmp_path/state`` with a free port for each of ``BASE_PORTS`` and
    ``extra_ports`` (in ``Stack.ports``); torn down on the way out."""
    names = (*BASE_PORTS, *extra_ports)
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    state_dir = tmp_path / "state"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HARBORHOOK_")}
    env.update(
        HARBORHOOK_STATE_DIR=str(state_dir),
        HARBORHOOK_INGEST_PORT=str(ports["ingest"]),
        HARBORHOOK_WORKER_METRICS_PORT=str(ports["worker_metrics"]),
        HARBORHOOK_MONITOR_PORT=str(ports["monitor"]),
        HARBORHOOK_PROMETHEUS_PORT=str(ports["prometheus"]),
        HARBORHOOK_ALERTMANAGER_PORT=str(ports["alertmanager"]),
        HARBORHOOK_JAEGER_OTLP_PORT=str(ports["jaeger_otlp"]),
        HARBORHOOK_JAEGER_QUERY_PORT=str(ports["jaeger_query"]),
        HARBORHOOK_JAEGER_GRPC_PORT=str(ports["jaeger_grpc"]),
        HARBORHOOK_JAEGER_HEALTH_PORT=str(ports["jaeger_health"]),
        HARBORHOOK_API_URL=f"http://127.0.0.1:{ports['ingest']}",
    )
    created = Stack(state_dir=state_dir, env=env, ports=ports)
    try:
        yield created
    finally:
        teardown(created)
