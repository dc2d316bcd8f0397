"""The soak's recording receiver: ``harborctl run receiver`` as a child process on one
loopback port, stopped and started again by the receiver outage, and its record file read
back at the end.

The record file (JSON lines, :mod:`harborctl.receiver.records`) is appended to by every
run of the process, so what arrived before an outage is still there afterwards. Each record
gives the path (which endpoint), the ``webhook-id`` (the event id), the answer planned on
arrival (None for a hang) and when it arrived.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from harborctl.childproc import start_server_child, stop_child

START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class ReceivedRecord:
    """One POST the receiver got: ``at`` in wall-clock seconds, ``status`` its answer."""

    path: str
    webhook_id: str | None
    status: int | None
    at: float


class ReceiverProcess:
    """``with ReceiverProcess(port, workdir) as receiver: receiver.url``; ``stop()`` and
    ``start()`` in between for an outage. HarborHookError when it does not come up."""

    def __init__(self, port: int, workdir: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.record_file = workdir / "received.jsonl"
        self.log_file = workdir / "receiver.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "harborctl", "run", "receiver",
            "--host", self.host, "--port", str(self.port),
            "--record-file", str(self.record_file),
        ]  # fmt: skip
        # its stdout logs every request: the record file has them already
        self._process = start_server_child(
            command,
            f"{self.url}/healthz",
            self.log_file,
            what=f"the soak's receiver on port {self.port}",
            log_stdout=False,
            timeout=START_TIMEOUT_SECONDS,
        )

    def stop(self) -> None:
        """SIGTERM and wait (SIGKILL after ``STOP_TIMEOUT_SECONDS``)."""
        process, self._process = self._process, None
        if process is not None:
            stop_child(process, STOP_TIMEOUT_SECONDS)

    def records(self) -> Iterator[ReceivedRecord]:
        """Everything recorded so far, in arrival order (a torn last line is skipped)."""
        if not self.record_file.exists():
            return
        with self.record_file.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    data = json.loads(line)
                    at = datetime.fromisoformat(str(data["received_at"])).timestamp()
                except (ValueError, KeyError, TypeError):
                    continue
                status = data.get("status")
                yield ReceivedRecord(
                    path=str(data.get("path")),
                    webhook_id=data.get("webhook_id"),
                    status=int(status) if isinstance(status, int) else None,
                    at=at,
                )

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
