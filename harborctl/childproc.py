"""Child processes this process starts and stops: a server started and waited for until
its health URL answers 200; a stop that is SIGTERM, a grace period, then SIGKILL."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from harborctl.errors import HarborHookError

#: Seconds a server child gets to answer its health URL.
START_TIMEOUT_SECONDS = 15.0
START_POLL_SECONDS = 0.05
#: How much of a failed child's log goes into the error.
LOG_TAIL_CHARS = 2000

#: Seconds a child gets to exit after SIGTERM before it is killed.
STOP_GRACE_SECONDS = 10.0


def stop_child(process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """Terminate ``process`` (SIGTERM) and reap it; SIGKILL when it is still running after
    ``grace`` seconds. Nothing happens to a child that has exited already (it is reaped)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_server_child(
    argv: Sequence[str],
    health_url: str,
    log_file: Path,
    *,
    what: str,
    log_stdout: bool = True,
    timeout: float = START_TIMEOUT_SECONDS,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, its stderr (and stdout unless ``log_stdout`` is
    False, for servers that log every request there) appended to ``log_file``, and wait until
    ``GET health_url`` answers 200. Raises HarborHookError naming ``what``, with the end of
    its log, when it exits or does not answer within ``timeout`` seconds (it is stopped)."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log if log_stdout else subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as http:
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if http.get(health_url).status_code == 200:
                    return process
            time.sleep(START_POLL_SECONDS)
    stop_child(process)
    output = log_file.read_text(errors="replace")[-LOG_TAIL_CHARS:]
    raise HarborHookError(f"{what} did not start:\n{output}")
