"""JSON logs for every HarborHook process, correlated with traces.

:func:`setup_logging` installs one JSON formatter on the root logger: stdout always, and
``<log_dir>/<service>.jsonl`` when ``log_to_file`` is on (the native stack). Each line::

    {"timestamp": "2024-05-01T12:00:00.123456+00:00", "level": "info",
     "service": "harborhook-worker", "logger": "harborctl.services.delivery",
     "message": "...", "trace_id": "<32 hex>", "span_id": "<16 hex>",
     "tenant_id": "...", "event_id": "...", "endpoint_id": "...", "delivery_id": "..."}

trace_id/span_id come from the current OpenTelemetry span; the delivery fields from
:func:`log_context` (a contextvar, so each asyncio task sees only its own) or ``extra=``.
Absent fields are left out rather than written as null.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from harborctl.observability.tracing import current_ids
from harborctl.settings import Settings

CONTEXT_FIELDS = ("tenant_id", "event_id", "endpoint_id", "delivery_id", "attempt")
NOISY_LOGGERS = (
    "nsq",
    "tornado",
    "alembic",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "aiohttp.access",
    "httpx",
    "httpcore",
    "sqlalchemy",
    "opentelemetry",
)

_context: ContextVar[dict[str, Any] | None] = ContextVar("harborhook_log_context", default=None)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (tenant_id, event_id, ...) to every log line written inside the block."""
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace_id, span_id = current_ids()
        if trace_id:
            line["trace_id"] = trace_id
            line["span_id"] = span_id
        line.update(_context.get() or {})
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def setup_logging(settings: Settings, service: str) -> None:
    """Route every logger through the JSON formatter; replaces earlier handlers."""
    formatter = JsonFormatter(service)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if settings.log_to_file:
        path = settings.layout.json_log(service)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, encoding="utf-8"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in NOISY_LOGGERS:
        noisy = logging.getLogger(name)
        noisy.setLevel(logging.WARNING)
        noisy.handlers.clear()
        noisy.propagate = True
