"""What ``harborctl logs tail`` asks for, as a local filter and as LogQL.

Loki's labels are only ``service`` and ``level`` (Promtail keeps trace_id and tenant_id
out of the label set); the rest is matched after ``| json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

LEVELS = ("debug", "info", "warning", "error", "critical")
SERVICE_PATTERN = "harborhook-.*"


@dataclass(frozen=True, slots=True)
class LogEntry:
    timestamp_ns: int
    record: Mapping[str, Any]  # the JSON log line (plus Loki's labels when from Loki)


@dataclass(frozen=True, slots=True)
class LogQuery:
    trace_id: str | None = None
    tenant_id: str | None = None
    level: str | None = None  # minimum level
    service: str | None = None

    def levels(self) -> tuple[str, ...]:
        if not self.level:
            return LEVELS
        return LEVELS[LEVELS.index(self.level.lower()) :]

    def matches(self, record: Mapping[str, Any]) -> bool:
        if self.trace_id and record.get("trace_id") != self.trace_id.lower():
            return False
        if self.tenant_id and record.get("tenant_id") != self.tenant_id:
            return False
        if self.service and record.get("service") != self.service:
            return False
        return not self.level or str(record.get("level", "")).lower() in self.levels()

    def logql(self) -> str:
        selector = [f'service=~"{SERVICE_PATTERN}"']
        if self.service:
            selector = [f'service="{_quote(self.service)}"']
        if self.level:
            selector.append(f'level=~"{"|".join(self.levels())}"')
        query = "{" + ", ".join(selector) + "} | json"
        if self.trace_id:
            query += f' | trace_id="{_quote(self.trace_id.lower())}"'
        if self.tenant_id:
            query += f' | tenant_id="{_quote(self.tenant_id)}"'
        return query


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def timestamp_ns(record: Mapping[str, Any]) -> int:
    """The log line's ISO timestamp in unix nanoseconds (0 when missing or malformed)."""
    raw = record.get("timestamp")
    if not isinstance(raw, str):
        return 0
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return 0
    return int(moment.timestamp() * 1_000_000) * 1000
