"""Stopping a child process this process started: SIGTERM, a grace period, then SIGKILL."""

from __future__ import annotations

import subprocess

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
