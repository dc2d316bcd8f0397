"""Spans and trace summaries as the CLI shows them, whatever store they came from.

Three readers parse into :class:`SpanView`: the local span file (one JSON object per line,
written by :class:`harborctl.observability.tracing.JsonLinesSpanExporter`), and the OTLP JSON
of Tempo and Jaeger (``batches`` or ``resourceSpans`` → ``scopeSpans`` → ``spans``, under
``trace`` in Tempo's v2 API and ``result`` in Jaeger's v3 API; ids in hex or base64, kinds
and status codes as enum names or numbers, values typed as ``{"stringValue": ...}``, int64
values as strings).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_KINDS = ["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
_STATUSES = ["UNSET", "OK", "ERROR"]


@dataclass(frozen=True, slots=True)
class SpanView:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str  # SERVER, CLIENT, ... (no SPAN_KIND_ prefix)
    start_ns: int
    end_ns: int
    status: str  # UNSET, OK, ERROR
    service: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    status_message: str | None = None

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    root_name: str
    service: str
    start_ns: int
    duration_ms: float
    status: str  # ERROR when any span failed, else OK
    span_count: int
    tenant_id: str | None
    error_count: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "root_name": self.root_name,
            "service": self.service,
            "start_unix_nano": self.start_ns,
            "duration_ms": round(self.duration_ms, 3),
            "status": self.status,
            "span_count": self.span_count,
            "error_count": self.error_count,
            "tenant_id": self.tenant_id,
        }


def span_from_record(record: Mapping[str, Any]) -> SpanView:
    """A line of the local span file."""
    return SpanView(
        trace_id=str(record["trace_id"]),
        span_id=str(record["span_id"]),
        parent_span_id=record.get("parent_span_id") or None,
        name=str(record.get("name", "")),
        kind=str(record.get("kind", "INTERNAL")),
        start_ns=int(record.get("start_unix_nano") or 0),
        end_ns=int(record.get("end_unix_nano") or 0),
        status=str(record.get("status", "UNSET")),
        service=str(record.get("service") or "unknown"),
        attributes=dict(record.get("attributes") or {}),
        status_message=record.get("status_message"),
    )


def spans_from_otlp(document: Mapping[str, Any]) -> list[SpanView]:
    """An OTLP JSON trace document: Tempo's trace by id (v1 ``batches``, OTLP
    ``resourceSpans`` or v2 ``trace``) or Jaeger's v3 answer (``result``)."""
    body: Mapping[str, Any] = document.get("trace") or document.get("result") or document
    batches = body.get("batches") or body.get("resourceSpans") or []
    found: list[SpanView] = []
    for batch in batches:
        resource = _attributes((batch.get("resource") or {}).get("attributes") or [])
        service = str(resource.get("service.name", "unknown"))
        scopes = batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []
        for scope in scopes:
            for span in scope.get("spans") or []:
                status = span.get("status") or {}
                found.append(
                    SpanView(
                        trace_id=otlp_id(span.get("traceId", ""), 16),
                        span_id=otlp_id(span.get("spanId", ""), 8),
                        parent_span_id=otlp_id(span.get("parentSpanId", ""), 8) or None,
                        name=str(span.get("name", "")),
                        kind=_enum(span.get("kind"), _KINDS, "SPAN_KIND_", "INTERNAL"),
                        start_ns=int(span.get("startTimeUnixNano") or 0),
                        end_ns=int(span.get("endTimeUnixNano") or 0),
                        status=_enum(status.get("code"), _STATUSES, "STATUS_CODE_", "UNSET"),
                        service=service,
                        attributes=_attributes(span.get("attributes") or []),
                        status_message=status.get("message") or None,
                    )
                )
    return found


def otlp_id(value: str, size: int) -> str:
    """A trace/span id as lowercase hex, from hex or from protobuf-JSON base64."""
    if not value:
        return ""
    if len(value) == size * 2:
        try:
            bytes.fromhex(value)
            return value.lower()
        except ValueError:
            pass
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return value.lower()


def _enum(value: object, names: list[str], prefix: str, default: str) -> str:
    if isinstance(value, int):
        return names[value] if 0 <= value < len(names) else default
    if isinstance(value, str) and value:
        return value.removeprefix(prefix)
    return default


def _attributes(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return {str(item.get("key")): _value(item.get("value") or {}) for item in items}


def _value(value: Mapping[str, Any]) -> Any:
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [_value(v) for v in (value["arrayValue"].get("values") or [])]
    return None


def summarize(spans: list[SpanView]) -> TraceSummary:
    """One trace's line: its root (the span without a parent in the trace), total span
    from the earliest start to the latest end, ERROR when any span failed."""
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_span_id or s.parent_span_id not in ids]
    root = min(roots or spans, key=lambda s: s.start_ns)
    start = min(s.start_ns for s in spans)
    end = max(s.end_ns for s in spans)
    errors = sum(1 for s in spans if s.status == "ERROR")
    tenant = next(
        (str(s.attributes["tenant_id"]) for s in spans if s.attributes.get("tenant_id")), None
    )
    return TraceSummary(
        trace_id=root.trace_id,
        root_name=root.name,
        service=root.service,
        start_ns=start,
        duration_ms=(end - start) / 1e6,
        status="ERROR" if errors else "OK",
        span_count=len(spans),
        tenant_id=tenant,
        error_count=errors,
    )


def children_of(spans: list[SpanView]) -> tuple[list[SpanView], dict[str, list[SpanView]]]:
    """(roots, parent span id → children), each list in start order."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[SpanView]] = {}
    roots: list[SpanView] = []
    for span in sorted(spans, key=lambda s: s.start_ns):
        if span.parent_span_id and span.parent_span_id in ids:
            children.setdefault(span.parent_span_id, []).append(span)
        else:
            roots.append(span)
    return roots, children


def span_dict(span: SpanView) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "service": span.service,
        "start_unix_nano": span.start_ns,
        "end_unix_nano": span.end_ns,
        "duration_ms": round(span.duration_ms, 3),
        "status": span.status,
        "status_message": span.status_message,
        "attributes": dict(span.attributes),
    }
