"""Jaeger's query API (v3, OTLP JSON) as a trace source for ``harborctl traces``.

Jaeger v2 (the ``jaeger`` binary ``scripts/bootstrap`` builds, v2.13.0) serves, on its query
port (16686 by default):

- ``GET /api/v3/traces/{trace_id}``: ``{"result": {"resourceSpans": [...]}}``, OTLP JSON with
  hex ids, enum numbers for kinds and status codes, int64 values as strings. An unknown id
  answers 404 ``{"error": {"httpCode": 404, "message": "No traces found"}}``; a malformed one
  400 (``malformed parameter trace_id``).
- ``GET /api/v3/traces?query.start_time_min=&query.start_time_max=&query.num_traces=
  [&query.service_name=]``: every span of up to ``num_traces`` traces (most recent first)
  with a span starting in the window (and, with ``service_name``, a span of that
  service), in one ``result`` as above; 404 when there is none. Times are RFC 3339 with
  nanoseconds; both are required.

Source: ``cmd/query/app/apiv3/http_gateway.go`` of github.com/jaegertracing/jaeger v1.76.0
(the in-memory store, ``internal/storage/v2/memory``, matches an empty service name to every
service).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from harborctl.errors import NotFound, ServiceError, ValidationError
from harborctl.jsonhttp import JsonHttpClient, short_text
from harborctl.telemetry.trace_model import SpanView, TraceSummary, spans_from_otlp, summarize

TRACES_PATH = "/api/v3/traces"
DEFAULT_SEARCH_LIMIT = 100  # traces per search (query.num_traces)


def rfc3339_nano(unix_ns: int) -> str:
    """``2030-01-01T00:00:00.000000001Z``: the time format of Jaeger's v3 query parameters."""
    seconds, nanos = divmod(unix_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"


def _error_message(answer: httpx.Response) -> str:
    """Jaeger's own ``error.message``, else a short excerpt of the body."""
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("message") or "")
    return short_text(answer.text)


class JaegerClient(JsonHttpClient):
    """The two reads of the v3 query API that ``traces show`` and ``traces tail`` need."""

    service = "Jaeger"

    def trace(self, trace_id: str) -> list[SpanView]:
        """Every span of one trace; NotFound when Jaeger does not know it, ValidationError
        when Jaeger refuses the id (not 32 hex digits)."""
        path = f"{TRACES_PATH}/{trace_id}"
        answer = self.send("GET", path, headers={"Accept": "application/json"})
        if answer.status_code == 404:
            raise NotFound("trace", trace_id)
        if answer.status_code == 400:
            raise ValidationError(
                "trace_id", f"Jaeger refused trace id {trace_id!r}: {_error_message(answer)}"
            )
        self._expect_ok(answer, path)
        return spans_from_otlp(self.json_object(answer, path))

    def search(
        self, *, since_ns: int, until_ns: int, service: str | None, limit: int
    ) -> list[SpanView]:
        """The spans of up to ``limit`` recent traces with a span starting between
        ``since_ns`` and ``until_ns`` (and one of ``service``, when given); [] when none."""
        params: dict[str, str | int] = {
            "query.start_time_min": rfc3339_nano(since_ns),
            "query.start_time_max": rfc3339_nano(until_ns),
            "query.num_traces": limit,
        }
        if service:
            params["query.service_name"] = service
        answer = self.send(
            "GET", TRACES_PATH, params=params, headers={"Accept": "application/json"}
        )
        if answer.status_code == 404:  # "No traces found"
            return []
        self._expect_ok(answer, TRACES_PATH)
        return spans_from_otlp(self.json_object(answer, TRACES_PATH))

    def _expect_ok(self, answer: httpx.Response, path: str) -> None:
        if answer.status_code != 200:
            raise ServiceError(
                f"Jaeger answered HTTP {answer.status_code} for {path}: {_error_message(answer)}"
            )


class JaegerTraceSource:
    """Recent traces from one v3 search (it answers whole traces), a trace by its id."""

    def __init__(self, client: JaegerClient, *, search_limit: int = DEFAULT_SEARCH_LIMIT) -> None:
        self.client = client
        self.search_limit = search_limit

    def recent(self, *, since_ns: int, until_ns: int, service: str | None) -> list[TraceSummary]:
        """Traces that started in the window (as the span file reads them), oldest first."""
        spans = self.client.search(
            since_ns=since_ns, until_ns=until_ns, service=service, limit=self.search_limit
        )
        grouped: dict[str, list[SpanView]] = {}
        for span in spans:
            grouped.setdefault(span.trace_id, []).append(span)
        found = [summarize(trace) for trace in grouped.values()]
        return sorted(
            (t for t in found if since_ns <= t.start_ns <= until_ns), key=lambda t: t.start_ns
        )

    def get(self, trace_id: str) -> list[SpanView]:
        spans = self.client.trace(trace_id)
        if not spans:
            raise NotFound("trace", trace_id)
        return spans
