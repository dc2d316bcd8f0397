"""JSON logs for every HarborHook process, correlated with traces.

:func:`setup_logging` routes the root logger to JSON lines: stdout when ``log_to_stdout`` is
on, and ``<log_dir>/<service>.jsonl`` when ``log_to_file`` is on (the native stack keeps
only the file: its supervisor would copy stdout to a second file). Each line::

    {"timestamp": "2024-05-01T12:00:00.123456+00:00", "level": "info",
     "service": "harborhook-worker", "logger": "harborctl.services.delivery",
     "message": "...", "trace_id": "<32 hex>", "span_id": "<16 hex>",
     "tenant_id": "...", "event_id": "...", "endpoint_id": "...", "delivery_id": "..."}

trace_id/span_id come from the current OpenTelemetry span; the delivery fields from
:func:`log_context` (a contextvar, so each asyncio task sees only its own) or ``extra=``.
Absent fields are left out rather than written as null. Each line is encoded with orjson
and written with one ``write(2)`` on an ``O_APPEND`` descriptor: no buffer to lose at a
crash, and lines of several processes sharing a file never interleave.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

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
        return self.encode(record).decode()

    def encode(self, record: logging.LogRecord) -> bytes:
        """The record as one JSON object (UTF-8, no newline)."""
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
        return orjson.dumps(line, default=str)


class JsonLinesHandler(logging.Handler):
    """Writes each record as one JSON line with a single ``write(2)`` to ``fd``."""

    def __init__(self, fd: int, formatter: JsonFormatter, *, owns_fd: bool = False) -> None:
        super().__init__()
        self.fd = fd
        self.json = formatter
        self.owns_fd = owns_fd

    @classmethod
    def appending_to(cls, path: Path, formatter: JsonFormatter) -> JsonLinesHandler:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        return cls(fd, formatter, owns_fd=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            os.write(self.fd, self.json.encode(record) + b"\n")
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self.owns_fd and self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        super().close()


def setup_logging(settings: Settings, service: str) -> None:
    """Route every logger through the JSON formatter; replaces earlier handlers."""
    formatter = JsonFormatter(service)
    handlers: list[logging.Handler] = []
    if settings.log_to_stdout or not settings.log_to_file:
        sys.stdout.flush()
        handlers.append(JsonLinesHandler(sys.stdout.fileno(), formatter))
    if settings.log_to_file:
        handlers.append(JsonLinesHandler.appending_to(settings.layout.json_log(service), formatter))
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
