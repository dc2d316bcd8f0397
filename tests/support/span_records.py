"""Synthetic span-file records of one delivery trace, for the traces CLI tests."""

from __future__ import annotations

import secrets
import time
from typing import Any

MS = 1_000_000


def delivery_trace(
    tenant_id: str = "ten_a", *, failed_first: bool = False, start_ns: int | None = None
) -> list[dict[str, Any]]:
    """PublishEvent → FanOut → publish → process → DeliveryAttempt → POST (+ a retry)."""
    trace_id = secrets.token_hex(16)
    t0 = start_ns if start_ns is not None else time.time_ns() - 2000 * MS
    ids = {"tenant_id": tenant_id, "event_id": "evt_1", "delivery_id": "dlv_1"}

    def span(
        name: str,
        kind: str,
        service: str,
        parent: str | None,
        start: int,
        end: int,
        status: str = "UNSET",
        **attributes: Any,
    ) -> dict[str, Any]:
        return {
            "trace_id": trace_id,
            "span_id": secrets.token_hex(8),
            "parent_span_id": parent,
            "name": name,
            "kind": kind,
            "start_unix_nano": t0 + start * MS,
            "end_unix_nano": t0 + end * MS,
            "status": status,
            "status_message": "HTTP 500" if status == "ERROR" else None,
            "attributes": attributes,
            "events": [],
            "service": service,
        }

    ingest, worker = "harborhook-ingest", "harborhook-worker"
    server = span("PublishEvent", "SERVER", ingest, None, 0, 10, tenant_id=tenant_id)
    fan = span("FanOut", "INTERNAL", ingest, server["span_id"], 1, 9, **ids)
    pub = span(
        "topic publish", "PRODUCER", ingest, fan["span_id"], 6, 8, **{"messaging.system": "nsq"}
    )
    records = [server, fan, pub]
    attempts = [("ERROR", 500), ("UNSET", 200)] if failed_first else [("UNSET", 200)]
    at = 20
    for number, (status, code) in enumerate(attempts, start=1):
        consumer = span("topic process", "CONSUMER", worker, pub["span_id"], at, at + 30, **ids)
        attempt = span(
            "DeliveryAttempt",
            "INTERNAL",
            worker,
            consumer["span_id"],
            at + 2,
            at + 28,
            status,
            attempt=number,
            **{"http.response.status_code": code},
        )
        client = span("POST", "CLIENT", worker, attempt["span_id"], at + 3, at + 27, status)
        records += [consumer, attempt, client]
        at += 100
    return records


# OTLP's enum numbers (opentelemetry-proto trace.proto): Span.SpanKind and Status.StatusCode
OTLP_KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
OTLP_STATUS_CODES = {"UNSET": 0, "OK": 1, "ERROR": 2}


def _otlp_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # protobuf JSON: int64 as a string
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def otlp_json(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Span-file records as an OTLP/HTTP JSON export request (``ExportTraceServiceRequest``):
    one ``resourceSpans`` entry per service, hex ids, enum numbers, typed attribute values."""
    by_service: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        status: dict[str, Any] = {"code": OTLP_STATUS_CODES[record["status"]]}
        if record.get("status_message"):
            status["message"] = record["status_message"]
        span: dict[str, Any] = {
            "traceId": record["trace_id"],
            "spanId": record["span_id"],
            "name": record["name"],
            "kind": OTLP_KINDS[record["kind"]],
            "startTimeUnixNano": str(record["start_unix_nano"]),
            "endTimeUnixNano": str(record["end_unix_nano"]),
            "attributes": [
                {"key": key, "value": _otlp_value(value)}
                for key, value in record["attributes"].items()
            ],
            "status": status,
        }
        if record.get("parent_span_id"):
            span["parentSpanId"] = record["parent_span_id"]
        by_service.setdefault(record["service"], []).append(span)
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"scope": {"name": "tests.span_records"}, "spans": spans}],
            }
            for service, spans in by_service.items()
        ]
    }
