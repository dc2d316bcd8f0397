"""What ``up``, ``status`` and ``down`` report about the native stack (plain data)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harborctl.errors import StackError


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    state: str
    pid: int | None
    uptime_seconds: float | None
    healthy: bool
    health: str
    url: str
    kind: str = ""  # worker for worker-2, nsqd for nsqd-2; else the name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StackStatus:
    state_dir: Path
    transport: str
    supervisord_pid: int | None
    components: tuple[ComponentStatus, ...]
    notes: tuple[str, ...] = ()
    database: str = "sqlite"

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
            "database": self.database,
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
