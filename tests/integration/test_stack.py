"""`harborctl up` / `status` / `down` for real: supervisord, nsqd, nsqlookupd, ingest, worker.

Every process the test starts is stopped again, even when an assertion fails: the fixture's
teardown runs `harborctl down`, then SIGKILLs by pid whatever of this state dir survived.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

NSQ_INSTALLED = all(shutil.which(binary) for binary in ("nsqd", "nsqlookupd"))
# optional components `up` starts when installed, in start order
OBSERVABILITY = [
    name
    for name, binaries in (
        ("alertmanager", ("prometheus-alertmanager", "alertmanager")),
        ("prometheus", ("prometheus",)),
    )
    if any(shutil.which(binary) for binary in binaries)
]
COMMAND_TIMEOUT = 180.0


# ----------------------------------------------------------------- small private helpers


def _free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on loopback right now (all held open while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alive(pid: int) -> bool:
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


def _poll(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _pids_of_state_dir(state_dir: Path) -> list[int]:
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


def _teardown(stack: Stack) -> None:
    with contextlib.suppress(Exception):
        stack.run("down")
    # last resort, by pid only: supervisord from its pidfile, then anything of this state dir
    pidfile = stack.state_dir / "run" / "supervisord.pid"
    leftovers = set(stack.seen_pids) | set(_pids_of_state_dir(stack.state_dir))
    with contextlib.suppress(OSError, ValueError):
        leftovers.add(int(pidfile.read_text().strip()))
    for pid in leftovers:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    names = ("ingest", "worker_metrics", "nsqd_tcp", "nsqd_http", "nsqlookupd_tcp", "monitor")
    names += ("prometheus", "alertmanager")
    ports = dict(zip((*names, "nsqlookupd_http"), _free_ports(9), strict=True))
    state_dir = tmp_path / "state"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HARBORHOOK_")}
    env.update(
        HARBORHOOK_STATE_DIR=str(state_dir),
        HARBORHOOK_INGEST_PORT=str(ports["ingest"]),
        HARBORHOOK_WORKER_METRICS_PORT=str(ports["worker_metrics"]),
        HARBORHOOK_MONITOR_PORT=str(ports["monitor"]),
        HARBORHOOK_PROMETHEUS_PORT=str(ports["prometheus"]),
        HARBORHOOK_ALERTMANAGER_PORT=str(ports["alertmanager"]),
        HARBORHOOK_API_URL=f"http://127.0.0.1:{ports['ingest']}",
    )
    created = Stack(state_dir=state_dir, env=env, ports=ports)
    try:
        yield created
    finally:
        _teardown(created)


# ----------------------------------------------------------------- the test


@pytest.mark.parametrize(
    "transport",
    [
        pytest.param(
            "nsq",
            marks=pytest.mark.skipif(not NSQ_INSTALLED, reason="nsqd/nsqlookupd not on PATH"),
        ),
        "db",
    ],
)
def test_up_status_down(stack: Stack, transport: str) -> None:
    extra = () if transport == "nsq" else ("--no-nsq",)
    expected = ["nsqlookupd", "nsqd"] if transport == "nsq" else []
    expected += ["ingest", "worker", "monitor", *OBSERVABILITY]

    started = stack.run_json(*stack.up_args(*extra))
    stack.remember(started)
    assert started["result"] == "started"
    assert started["transport"] == transport
    assert started["state_dir"] == str(stack.state_dir)
    assert started["admin_key"] == str(stack.state_dir / "admin.key")
    admin_key = (stack.state_dir / "admin.key").read_text().strip()
    assert admin_key and admin_key not in json.dumps(started)
    assert [c["name"] for c in started["components"]] == expected
    assert all(c["healthy"] and c["state"] == "RUNNING" for c in started["components"])
    assert f"http://127.0.0.1:{stack.ports['ingest']}" in [c["url"] for c in started["components"]]

    status = stack.run_json("status")
    stack.remember(status)
    assert status["running"] and status["healthy"]
    assert [c["name"] for c in status["components"]] == expected
    assert all(c["healthy"] and c["pid"] for c in status["components"])
    component_pids = {c["pid"] for c in status["components"]}
    supervisord_pid = status["supervisord_pid"]
    assert _alive(supervisord_pid) and all(_alive(pid) for pid in component_pids)

    # a second `up` while running is a no-op: nothing started twice
    again = stack.run_json(*stack.up_args(*extra))
    assert again["result"] == "already_running"
    assert again["supervisord_pid"] == supervisord_pid
    assert {c["pid"] for c in again["components"]} == component_pids
    human = stack.run(*stack.up_args(*extra))
    assert human.returncode == 0 and "already up" in human.stdout

    stopped = stack.run_json("down")
    assert stopped["was_running"] is True
    assert stopped["supervisord_pid"] == supervisord_pid
    assert set(stopped["stopped_pids"]) == component_pids
    assert not _alive(supervisord_pid)
    assert not [pid for pid in component_pids if _alive(pid)]
    assert _poll(lambda: all(_port_free(port) for port in _ports_in_use(stack, transport)), 10)

    gone = stack.run("status")
    assert gone.returncode == 3 and "not running" in gone.stdout
    assert stack.run_json("status", expect=3)["running"] is False
    again_down = stack.run("down")
    assert again_down.returncode == 0 and "not running" in again_down.stdout


def _ports_in_use(stack: Stack, transport: str) -> list[int]:
    if transport == "nsq":
        return list(stack.ports.values())
    return [stack.ports["ingest"], stack.ports["worker_metrics"]]


def test_status_and_down_when_nothing_runs(stack: Stack) -> None:
    status = stack.run("status")
    assert status.returncode == 3
    assert "not running" in status.stdout
    down = stack.run_json("down")
    assert down["was_running"] is False
