"""Real services for tests: nsqlookupd, nsqd and PostgreSQL on 127.0.0.1.

Each service gets free ports and its own temp directory, writes its output to a log file
there, and can be stopped and started again on the same ports and data. A service that does
not come up raises ``ServiceStartError`` carrying the tail of its log.

Cleanup does not depend on the test session ending well: every child process is started
with a parent-death signal (Linux), and the ones still running at interpreter exit are
stopped by an ``atexit`` hook. ``install_sigterm_handler`` turns SIGTERM into
``KeyboardInterrupt`` so that pytest runs its fixture teardown when it is terminated.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psycopg
import pytest

from harborctl.errors import StackError
from harborctl.stack.postgres import SUPERUSER, PostgresCluster
from harborctl.stack.postgres import postgres_bin_dir as stack_postgres_bin_dir
from harborctl.stack.postgres import postgres_os_user as stack_postgres_os_user
from harborctl.stack.postgres import user_ids as _user_ids
from tests.support.wait import wait_until

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 40
NSQ_INSTALL_HINT = "run scripts/bootstrap (builds nsqd/nsqlookupd v1.3.0 from scripts/nsq)"
POSTGRES_INSTALL_HINT = "run scripts/bootstrap (installs the Debian package postgresql)"
EXTRA_BIN_DIRS = ("/usr/local/bin", str(Path.home() / ".local/bin"), str(Path.home() / "go/bin"))


class ServiceStartError(RuntimeError):
    """A service did not become ready; the message ends with the tail of its log."""


# --- ports and binaries ---------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOOPBACK, 0))
        return [sock.getsockname()[1] for sock in sockets]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return free_ports(1)[0]


def find_binary(name: str) -> str | None:
    """``name`` on PATH, or in the directories scripts/bootstrap installs into."""
    return shutil.which(name) or shutil.which(name, path=os.pathsep.join(EXTRA_BIN_DIRS))


def require_binary(name: str, install_hint: str) -> str:
    """Path of ``name``; when missing, fail under CI (env CI set) and skip elsewhere."""
    path = find_binary(name)
    if path is not None:
        return path
    message = f"{name} not installed: {install_hint}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def postgres_bin_dir() -> Path:
    """Directory holding initdb and postgres (``harborctl.stack.postgres``); when PostgreSQL
    is missing, fail under CI and skip elsewhere."""
    try:
        return stack_postgres_bin_dir(EXTRA_BIN_DIRS)
    except StackError:
        return Path(require_binary("initdb", POSTGRES_INSTALL_HINT)).parent


# --- child processes ------------------------------------------------------------------------

_PR_SET_PDEATHSIG = 1
_START_MARKER = "--- starting: "
_live_processes: set[ManagedProcess] = set()
_live_lock = threading.Lock()


def _die_with_parent(sig: signal.Signals) -> Callable[[], None]:
    """preexec_fn asking Linux to send ``sig`` to the child when the parent dies."""

    def set_parent_death_signal() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return set_parent_death_signal


def _stop_live_processes() -> None:
    with _live_lock:
        processes = list(_live_processes)
    for process in processes:
        process.stop(timeout=5)


atexit.register(_stop_live_processes)


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received signal {signum}")


def install_sigterm_handler() -> None:
    """Make SIGTERM unwind like Ctrl-C (fixture teardown runs) unless already handled."""
    if threading.current_thread() is threading.main_thread() and (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


class ManagedProcess:
    """One long-running child process with its output appended to ``log_path``.

    ``env`` replaces the environment when given; ``user`` runs it as that OS user (root
    only). ``stop()`` sends ``stop_signal`` and escalates to SIGKILL; ``kill()`` SIGKILLs.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        stop_signal: signal.Signals = signal.SIGTERM,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.user = user
        self.env = env
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        with self.log_path.open("ab") as log:
            log.write(f"{_START_MARKER}{' '.join(self.argv)}\n".encode())
            log.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._popen_options(),
            )
        with _live_lock:
            _live_processes.add(self)

    def _popen_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        # The death signal is tied to the forking thread, so only use it from the main one.
        if threading.current_thread() is threading.main_thread():
            options["preexec_fn"] = _die_with_parent(self.stop_signal)
        if self.user is not None:
            options["user"], options["group"] = _user_ids(self.user)
        if self.env is not None:
            options["env"] = dict(self.env)
        return options

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask the process to exit (``stop_signal``); SIGKILL it after ``timeout``."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            popen.send_signal(self.stop_signal)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        with _live_lock:
            _live_processes.discard(self)

    def kill(self) -> None:
        """SIGKILL and reap: no clean shutdown (simulates a crash)."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            popen.kill()
            popen.wait()
        with _live_lock:
            _live_processes.discard(self)

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The latest run's output: its first lines (where errors often are) and its last."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        run = text.split(_START_MARKER)[-1].splitlines()
        if len(run) <= lines:
            return "\n".join(run)
        head = lines // 4
        skipped = len(run) - lines
        return "\n".join([*run[:head], f"[... {skipped} lines ...]", *run[head - lines :]])

    def wait_ready(self, is_ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        """Poll ``is_ready`` until true; stop the process and raise if it never gets there."""

        def ready_or_exited() -> bool:
            if not self.running:
                raise ServiceStartError(f"{self.name} exited with code {self.returncode}")
            return is_ready()

        try:
            wait_until(
                ready_or_exited,
                timeout,
                interval=0.05,
                describe=f"{self.name} to be ready",
                ignore=(httpx.TransportError, psycopg.OperationalError),
            )
        except (AssertionError, ServiceStartError) as error:
            self.stop()
            raise ServiceStartError(
                f"{error}\n--- last lines of {self.log_path} ---\n{self.log_tail()}"
            ) from None


def http_ping(base_url: str) -> bool:
    """True when NSQ's ``GET /ping`` answers 200 OK."""
    response = httpx.get(f"{base_url}/ping", timeout=1.0)
    return response.status_code == 200 and response.text.strip() == "OK"


# --- NSQ ------------------------------------------------------------------------------------


class _NsqDaemon:
    """What nsqd and nsqlookupd share: a TCP and an HTTP port on loopback, and /ping."""

    tcp_port: int
    http_port: int
    process: ManagedProcess

    @property
    def tcp_address(self) -> str:
        return f"{LOOPBACK}:{self.tcp_port}"

    @property
    def http_address(self) -> str:
        return f"{LOOPBACK}:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_address}"

    @property
    def running(self) -> bool:
        return self.process.running

    def start(self) -> None:
        """Start (or restart, on the same ports and data) and return once /ping answers."""
        self.process.start()
        self.process.wait_ready(lambda: http_ping(self.http_url))

    def stop(self) -> None:
        """Clean shutdown (SIGTERM): nsqd flushes in-memory messages to its data dir."""
        self.process.stop()


class NsqLookupd(_NsqDaemon):
    """An nsqlookupd on 127.0.0.1: ``tcp_address`` for nsqd, ``http_address`` for clients."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.workdir = workdir
        self.tcp_port, self.http_port = free_ports(2)
        argv = [
            binary,
            f"--tcp-address={self.tcp_address}",
            f"--http-address={self.http_address}",
            f"--broadcast-address={LOOPBACK}",
        ]
        self.process = ManagedProcess("nsqlookupd", argv, workdir / "nsqlookupd.log")

    def producers(self, topic: str) -> list[dict[str, Any]]:
        """``/lookup?topic=`` producers; empty while the topic is unknown."""
        response = httpx.get(f"{self.http_url}/lookup", params={"topic": topic}, timeout=5.0)
        if response.status_code == 404:
            return []
        response.raise_for_status()
        producers: list[dict[str, Any]] = response.json().get("producers") or []
        return producers


_node_ids = itertools.count(1)


class Nsqd(_NsqDaemon):
    """An nsqd on 127.0.0.1 with its own data dir, registered with ``lookupd`` if given.

    Every node gets a distinct ``--node-id`` so message ids never collide across nodes.
    """

    def __init__(
        self,
        binary: str,
        workdir: Path,
        lookupd: NsqLookupd | None = None,
        msg_timeout: str = "10s",
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.lookupd = lookupd
        self.node_id = next(_node_ids)
        self.tcp_port, self.http_port = free_ports(2)
        self.data_path.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            f"--node-id={self.node_id}",
            f"--tcp-address={self.tcp_address}",
            f"--http-address={self.http_address}",
            f"--broadcast-address={LOOPBACK}",
            f"--data-path={self.data_path}",
            f"--msg-timeout={msg_timeout}",
            *([f"--lookupd-tcp-address={lookupd.tcp_address}"] if lookupd else []),
            *extra_args,
        ]
        self.process = ManagedProcess(f"nsqd#{self.node_id}", argv, workdir / "nsqd.log")

    @property
    def data_path(self) -> Path:
        return self.workdir / "data"

    def kill(self) -> None:
        """SIGKILL: in-memory messages are lost (``start()`` brings it back)."""
        self.process.kill()

    def publish(self, topic: str, body: bytes) -> None:
        response = httpx.post(f"{self.http_url}/pub", params={"topic": topic}, content=body)
        response.raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.http_url}/stats", params={"format": "json"}, timeout=5.0)
        response.raise_for_status()
        stats: dict[str, Any] = response.json()
        return stats

    def topic_stats(self, topic: str) -> dict[str, Any] | None:
        for entry in self.stats().get("topics") or []:
            if entry.get("topic_name") == topic:
                found: dict[str, Any] = entry
                return found
        return None

    def topic_depth(self, topic: str) -> int | None:
        """Messages waiting in ``topic`` (memory + disk), None when the topic does not exist."""
        entry = self.topic_stats(topic)
        return None if entry is None else int(entry["depth"])


class NsqdFactory:
    """Starts extra nsqd nodes registered with one lookupd; ``stop_all`` ends them."""

    def __init__(self, binary: str, lookupd: NsqLookupd, make_workdir: Callable[[], Path]):
        self.binary = binary
        self.lookupd = lookupd
        self.make_workdir = make_workdir
        self.started: list[Nsqd] = []

    def __call__(self, msg_timeout: str = "10s", extra_args: tuple[str, ...] = ()) -> Nsqd:
        node = Nsqd(self.binary, self.make_workdir(), self.lookupd, msg_timeout, extra_args)
        self.started.append(node)
        node.start()
        return node

    def stop_all(self) -> None:
        for node in self.started:
            node.stop()


# --- PostgreSQL -----------------------------------------------------------------------------


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth, superuser ``postgres``).

    What to run and as whom is ``harborctl.stack.postgres.PostgresCluster``'s, the same the
    native stack and ``harborctl bench`` use: under root, initdb and postgres run as the
    ``postgres`` OS user, and ``workdir`` is handed to it. The server runs in the foreground
    as our child (not under supervisord) so it dies with the session. Durability is switched
    off (fsync etc.): the data is thrown away anyway.
    """

    superuser = SUPERUSER

    def __init__(self, bin_dir: Path, workdir: Path, os_user: str | None) -> None:
        self.cluster = PostgresCluster(
            bin_dir=bin_dir, home=workdir, port=free_port(), os_user=os_user, durable=False
        )
        self.bin_dir = bin_dir
        self.workdir = workdir
        self.os_user = os_user
        self.port = self.cluster.port
        self.host = self.cluster.host
        self.log_path = workdir / "postgres.log"
        # SIGINT is PostgreSQL's "fast" shutdown (pg_ctl stop -m fast).
        self.process = ManagedProcess(
            "postgres",
            list(self.cluster.server_argv()),
            self.log_path,
            stop_signal=signal.SIGINT,
            user=os_user,
        )

    @property
    def data_dir(self) -> Path:
        return self.cluster.data_dir

    @property
    def running(self) -> bool:
        return self.process.running

    def initdb(self) -> None:
        try:
            self.cluster.prepare()
        except StackError as error:
            raise ServiceStartError(str(error)) from None

    def start(self) -> None:
        self.initdb()  # once: a cluster with PG_VERSION is left as it is
        self.process.start()
        self.process.wait_ready(self.cluster.accepts_connections)

    def stop(self) -> None:
        self.process.stop()

    def conninfo(self, dbname: str = "postgres") -> str:
        """libpq connection string, for psycopg.connect()."""
        return self.cluster.conninfo(dbname)

    def url(self, dbname: str) -> str:
        """SQLAlchemy URL using the psycopg 3 driver."""
        return self.cluster.url(dbname)

    def create_database(self, dbname: str) -> None:
        self.cluster.create_database(dbname)

    def drop_database(self, dbname: str) -> None:
        """Drop ``dbname`` even if a test left connections open (PostgreSQL 13+)."""
        self.cluster.drop_database(dbname)


def postgres_os_user() -> str | None:
    """The OS user to run PostgreSQL as: ``postgres`` under root, else ourselves (None)."""
    return stack_postgres_os_user()


_PG_WORKDIR_PREFIX = "harborhook-pg-"
_STALE_AFTER_SECONDS = 3600


def remove_stale_postgres_workdirs() -> None:
    """Remove workdirs of killed sessions: old, and no server running in them."""
    now = time.time()
    for workdir in Path(tempfile.gettempdir()).glob(f"{_PG_WORKDIR_PREFIX}*"):
        with contextlib.suppress(OSError):
            running = (workdir / "data" / "postmaster.pid").exists()
            if not running and now - workdir.stat().st_mtime > _STALE_AFTER_SECONDS:
                shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postgres_workdir(os_user: str | None) -> Iterator[Path]:
    """A temp dir the server's OS user owns (pytest's own tmp dirs are root-only 0700).

    Lives outside pytest's tmp tree; a SIGKILLed session leaves it behind, and a later
    session removes it (``remove_stale_postgres_workdirs``).
    """
    remove_stale_postgres_workdirs()
    workdir = Path(tempfile.mkdtemp(prefix=_PG_WORKDIR_PREFIX))
    try:
        if os_user is not None:
            uid, gid = _user_ids(os_user)
            os.chown(workdir, uid, gid)
        yield workdir
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
