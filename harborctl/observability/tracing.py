"""OpenTelemetry set-up and W3C context propagation for the HarborHook processes.

One call, :func:`setup_tracing`, per process: ``service.name`` harborhook-ingest or
harborhook-worker, ``ParentBased(TraceIdRatioBased(ratio))`` sampling, and a batch span
processor exporting over OTLP/HTTP when ``otlp_endpoint`` is set, else to the JSON-lines
span file ``<state_dir>/traces/spans.jsonl`` (one object per finished span; see
:class:`JsonLinesSpanExporter`). :func:`shutdown_tracing` flushes what is still queued.

Span names used across the pipeline::

    PublishEvent (SERVER, ingest)
     └── FanOut (INTERNAL: DB transaction, building messages, handing them to the transport)
          └── <topic> publish (PRODUCER, nsq transport; its context rides in the envelope)
               └── <destination> process (CONSUMER, worker; one per message received)
                    └── DeliveryAttempt (INTERNAL, one per HTTP attempt)
                         └── POST (CLIENT, aiohttp instrumentation)
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from harborctl import __version__
from harborctl.settings import Settings

INGEST_SERVICE = "harborhook-ingest"
WORKER_SERVICE = "harborhook-worker"
TRACER_NAME = "harborctl"

SPAN_PUBLISH_EVENT = "PublishEvent"
SPAN_FAN_OUT = "FanOut"
SPAN_ATTEMPT = "DeliveryAttempt"

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


# One tracer for the process. The API's proxy tracer forwards to the provider that
# setup_tracing installs later; asking the provider for a tracer per span cost ~6% of the
# worker's CPU (TracerProvider.get_tracer builds a new Tracer each call).
_TRACER = trace.get_tracer(TRACER_NAME)


def tracer() -> trace.Tracer:
    return _TRACER


def setup_tracing(settings: Settings, service: str) -> TracerProvider:
    """Install the process-wide tracer provider (once; later calls return the first)."""
    global _provider
    if _provider is not None:
        return _provider
    resource = Resource.create(
        {
            "service.name": service,
            "service.namespace": "harborhook",
            "service.version": __version__,
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
            "harborhook.transport": settings.transport,
        }
    )
    sampler = ParentBased(TraceIdRatioBased(settings.trace_sample_ratio))
    provider = TracerProvider(resource=resource, sampler=sampler)
    exporter: SpanExporter
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces")
    else:
        exporter = JsonLinesSpanExporter(settings.layout.spans_file)
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=settings.trace_export_delay_ms)
    )
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush queued spans and stop the exporter (SIGTERM / stop paths call this)."""
    global _provider
    if _provider is not None:
        _provider.force_flush()
        _provider.shutdown()
        _provider = None


# --- the span file ----------------------------------------------------------------------


class JsonLinesSpanExporter(SpanExporter):
    """Appends one JSON object per finished span to a file shared by all local processes.

    Each batch is one ``write(2)`` on an ``O_APPEND`` descriptor, so lines from several
    processes never interleave.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = "".join(json.dumps(span_record(s), separators=(",", ":")) + "\n" for s in spans)
        try:
            with self._lock:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.write(self._fd, data.encode())
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The span file's line: ids in lowercase hex, times in unix nanoseconds."""
    ctx = span.get_span_context()
    assert ctx is not None
    parent = span.parent
    return {
        "trace_id": trace.format_trace_id(ctx.trace_id),
        "span_id": trace.format_span_id(ctx.span_id),
        "parent_span_id": trace.format_span_id(parent.span_id) if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start_unix_nano": span.start_time,
        "end_unix_nano": span.end_time,
        "status": span.status.status_code.name,
        "status_message": span.status.description,
        "attributes": {k: _plain(v) for k, v in (span.attributes or {}).items()},
        "events": [
            {"name": e.name, "time_unix_nano": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
        "service": span.resource.attributes.get("service.name"),
    }


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


# --- W3C context in a dict -----------------------------------------------------------------


def inject_context(ctx: otel_context.Context | None = None) -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the current or given context; {} when none."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=ctx)
    return carrier


def extract_context(carrier: Mapping[str, str] | None) -> otel_context.Context:
    """A context whose parent is the remote span in ``carrier`` (empty: a new trace)."""
    return _propagator.extract(dict(carrier or {}), context=otel_context.Context())


def current_ids() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the current span in hex, or (None, None) outside any span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None, None
    return trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id)


def current_trace_id() -> str | None:
    return current_ids()[0]


def mark_error(span: Span, exc: BaseException | None = None, message: str | None = None) -> None:
    """Record a failure on ``span``: the exception event (if any) and status ERROR."""
    if exc is not None:
        span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, message or (str(exc) if exc else None)))


# --- the worker's consumer span and HTTP client span ----------------------------------------


class QueueMessage(Protocol):
    """What :func:`traced_handler` needs of a queue message (a DeliveryMessage)."""

    @property
    def trace_context(self) -> dict[str, str]: ...
    @property
    def tenant_id(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def endpoint_id(self) -> str: ...
    @property
    def delivery_id(self) -> str: ...


M = TypeVar("M", bound=QueueMessage)
R = TypeVar("R")


def traced_handler(
    handler: Callable[[M, bool], Awaitable[R]], *, system: str, destination: str
) -> Callable[[M, bool], Awaitable[R]]:
    """Wrap a queue handler: each message runs in a CONSUMER span continuing its context."""

    async def handle(message: M, claimed: bool) -> R:
        attributes = {
            "messaging.system": system,
            "messaging.destination.name": destination,
            "messaging.operation": "process",
            "messaging.operation.type": "process",
            "tenant_id": message.tenant_id,
            "event_id": message.event_id,
            "endpoint_id": message.endpoint_id,
            "delivery_id": message.delivery_id,
        }
        with tracer().start_as_current_span(
            f"{destination} process",
            context=extract_context(message.trace_context),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ):
            return await handler(message, claimed)

    return handle


@contextmanager
def client_span(method: str, url: str, headers: dict[str, str]) -> Iterator[Span]:
    """The CLIENT span of one outbound HTTP request (OpenTelemetry HTTP client semantic
    conventions: name ``POST``, ``http.request.method``, ``url.full``, ``server.address``,
    ``server.port``; the caller adds ``http.response.status_code`` / ``error.type``), its
    ``traceparent`` put into ``headers``. Written out rather than taken from the aiohttp
    instrumentation, whose per-request signal machinery doubled the cost of a POST."""
    parts = urlsplit(url)
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.full": url,
        "server.address": parts.hostname or "",
        "server.port": parts.port or (443 if parts.scheme == "https" else 80),
    }
    with _TRACER.start_as_current_span(
        method, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
    ) as span:
        _propagator.inject(headers)
        yield span
