"""The PublishEvent server span: a manual span, so the route decides what it records."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from opentelemetry.trace import Span, SpanKind

from harborctl.errors import (
    Conflict,
    NotFound,
    StoreError,
    TransportError,
    Unauthorized,
    ValidationError,
)
from harborctl.ingest.publish_route import PUBLISH_ROUTE
from harborctl.observability.tracing import (
    SPAN_PUBLISH_EVENT,
    extract_context,
    mark_error,
    tracer,
)

UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def native_telemetry_excluded(scope: MutableMapping[str, Any]) -> bool:
    """FastAPI's own request spans cover the other routes; the publish route has the
    PublishEvent span instead, and probes are not traced at all."""
    path = str(scope.get("path", ""))
    return path in UNTRACED_PATHS or path.endswith("/events:publish")


def _status_of(exc: Exception) -> int:
    if isinstance(exc, ValidationError):
        return exc.status_code
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, Unauthorized):
        return 401
    if isinstance(exc, StoreError | TransportError):
        return 503
    return 500


@contextmanager
def publish_span(request: Request, tenant_id: str) -> Iterator[Span]:
    """SERVER span continuing the caller's ``traceparent`` when it sent one.

    4xx answers are the caller's mistake: recorded as an exception event, status left
    unset (OpenTelemetry HTTP conventions); anything else is an ERROR.
    """
    with tracer().start_as_current_span(
        SPAN_PUBLISH_EVENT,
        context=extract_context(request.headers),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": request.method,
            "http.route": PUBLISH_ROUTE,
            "url.path": request.url.path,
            "tenant_id": tenant_id,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            status = _status_of(exc)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                mark_error(span, exc)
            else:
                span.record_exception(exc)
            raise
        span.set_attribute("http.response.status_code", 202)
