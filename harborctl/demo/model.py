"""What a demo run is given and what it answers: its options (``DemoOptions``), how it shows
itself (``DemoObserver``), where it reads traces and logs (``Sources``), and its result
(``DemoResult``, the check table in ``CHECK_NAMES`` order and the JSON of ``--json``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from harborctl.demo import checks, scenario
from harborctl.demo.summary import Summary
from harborctl.stack.model import StackOptions
from harborctl.telemetry.log_query import LogEntry
from harborctl.telemetry.log_tail import LogSource
from harborctl.telemetry.trace_model import SpanView
from harborctl.telemetry.trace_tail import TraceSource


@dataclass(frozen=True)
class DemoOptions:
    duration: float = scenario.DEFAULT_DURATION
    rate: float = scenario.DEFAULT_RATE
    notify: tuple[str, ...] = ()  # receiver names, or ("all",)
    keep: bool = False
    stack: StackOptions = field(default_factory=StackOptions)
    start_timeout: float = 90.0
    alert_timeout: float = 120.0  # longest wait for the alert to fire, and to resolve
    seed: int | None = None


class DemoObserver(Protocol):
    """How the run shows itself (the CLI's terminal, or nothing for --json)."""

    def step(self, text: str) -> None: ...  # a phase began
    def done(self, text: str) -> None: ...  # it ended well
    def note(self, text: str) -> None: ...
    def traffic(
        self, summary: Summary, elapsed: float, total: float | None, status: str
    ) -> None: ...
    def traffic_done(self) -> None: ...
    def evidence(self, spans: Sequence[SpanView], logs: Sequence[LogEntry]) -> None: ...


@dataclass(frozen=True)
class Sources:
    """Where traces and logs are read (Tempo, Jaeger or the span file; Loki or the files):
    the same as ``traces show`` and ``logs tail``."""

    traces: Callable[[], AbstractContextManager[TraceSource]]
    logs: Callable[[], AbstractContextManager[LogSource]]


@dataclass
class DemoResult:
    checked: dict[str, checks.Check] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    started_stack: bool = False
    kept_stack: bool = False
    transport: str | None = None
    tenant_id: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    notify: list[str] = field(default_factory=list)
    summary: Summary | None = None
    trace_id: str | None = None
    delivery_id: str | None = None
    fired_after: float | None = None
    resolved_after: float | None = None
    replayed: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            not self.interrupted and self.error is None and all(c.ok for c in self.ordered_checks())
        )

    def ordered_checks(self) -> list[checks.Check]:
        why = "interrupted" if self.interrupted else (self.error or "an earlier step failed")
        return [self.checked.get(name) or checks.not_run(name, why) for name in checks.CHECK_NAMES]

    def to_dict(self) -> dict[str, Any]:
        ordered = self.ordered_checks()
        return {
            "ok": self.ok,
            "failed": [c.name for c in ordered if not c.ok],
            "checks": [c.to_dict() for c in ordered],
            "duration_seconds": round(self.timings.get("total", 0.0), 1),
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "stack": {
                "started": self.started_stack,
                "kept": self.kept_stack,
                "transport": self.transport,
            },
            "tenant_id": self.tenant_id,
            "endpoints": self.endpoints,
            "notify": self.notify,
            "summary": self.summary.to_dict() if self.summary else None,
            "trace": {"trace_id": self.trace_id, "delivery_id": self.delivery_id},
            "alert": {
                "name": scenario.DRIVEN_ALERT,
                "fired_after_seconds": _round(self.fired_after),
                "resolved_after_seconds": _round(self.resolved_after),
                "notifications": self.notifications,
            },
            "replayed": self.replayed,
            "interrupted": self.interrupted,
            "error": self.error,
            "notes": self.notes,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
