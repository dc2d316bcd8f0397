"""Process helpers of the native stack: is a pid alive, is a port taken, the tail of a log,
poll until a deadline, kill a leftover. Linux (``/proc``) and POSIX signals."""

from __future__ import annotations

import errno
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

from harborctl.errors import StackError


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


def kill_leftover(pid: int, *, group: bool) -> None:
    """SIGKILL a leftover of the stack (its process group when it leads one)."""
    try:
        if group and os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
