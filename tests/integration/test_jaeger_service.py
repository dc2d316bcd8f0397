"""The real Jaeger trace store: spans exported by the OpenTelemetry SDK's OTLP/HTTP exporter
(protobuf) are found by trace id through both query APIs, with parent links, service name and
typed attributes intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tests.support.jaeger import JaegerServer, jaeger_server

__all__ = ["jaeger_server"]  # the session fixture, imported for pytest

SERVICE = "harborhook-jaeger-test"


@dataclass(frozen=True)
class ExportedTrace:
    trace_id: str
    parent_span_id: str
    child_span_id: str


def export_parent_and_child(jaeger: JaegerServer) -> ExportedTrace:
    """Two spans (``deliver`` → ``POST``) sent through the SDK exporter; returns their ids."""
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=jaeger.otlp_traces_url, timeout=5))
    )
    tracer = provider.get_tracer("tests.jaeger")
    try:
        with (
            tracer.start_as_current_span(
                "deliver",
                kind=SpanKind.CONSUMER,
                attributes={"harborhook.delivery_id": "d-42", "harborhook.attempt": 2},
            ) as parent,
            tracer.start_as_current_span(
                "POST", kind=SpanKind.CLIENT, attributes={"http.response.status_code": 503}
            ) as child,
        ):
            child.set_status(Status(StatusCode.ERROR, "endpoint answered 503"))
    finally:
        provider.shutdown()
    return ExportedTrace(
        trace_id=format(parent.get_span_context().trace_id, "032x"),
        parent_span_id=format(parent.get_span_context().span_id, "016x"),
        child_span_id=format(child.get_span_context().span_id, "016x"),
    )


def otlp_attributes(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """OTLP JSON ``[{"key", "value": {"stringValue"|"intValue"|...: v}}]`` as a flat dict."""
    return {a["key"]: next(iter(a["value"].values())) for a in attributes}


def jaeger_tags(tags: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    """Jaeger JSON ``[{"key", "type", "value"}]`` as ``{key: (type, value)}``."""
    return {t["key"]: (t["type"], t["value"]) for t in tags}


def test_sdk_spans_are_found_by_trace_id_through_the_v3_api(jaeger_server: JaegerServer) -> None:
    exported = export_parent_and_child(jaeger_server)

    spans = jaeger_server.wait_for_spans(exported.trace_id, 2)

    by_id = {span["spanId"]: span for span in spans}
    assert set(by_id) == {exported.parent_span_id, exported.child_span_id}
    parent, child = by_id[exported.parent_span_id], by_id[exported.child_span_id]
    assert {parent["traceId"], child["traceId"]} == {exported.trace_id}
    assert parent["name"] == "deliver"
    assert not parent.get("parentSpanId")
    assert child["name"] == "POST"
    assert child["parentSpanId"] == exported.parent_span_id
    assert otlp_attributes(parent["resource"]["attributes"])["service.name"] == SERVICE
    # OTLP JSON: int64 values are strings; kinds are enum numbers (5 consumer, 3 client).
    assert otlp_attributes(parent["attributes"]) == {
        "harborhook.delivery_id": "d-42",
        "harborhook.attempt": "2",
    }
    assert parent["kind"] == 5
    assert child["kind"] == 3
    assert child["status"] == {"code": 2, "message": "endpoint answered 503"}
    assert int(child["startTimeUnixNano"]) >= int(parent["startTimeUnixNano"])
    assert int(child["endTimeUnixNano"]) <= int(parent["endTimeUnixNano"])


def test_sdk_spans_are_found_by_trace_id_through_the_v1_api(jaeger_server: JaegerServer) -> None:
    exported = export_parent_and_child(jaeger_server)
    jaeger_server.wait_for_spans(exported.trace_id, 2)

    body = jaeger_server.trace_v1(exported.trace_id)

    assert body is not None
    [trace] = body["data"]
    assert trace["traceID"] == exported.trace_id
    by_id = {span["spanID"]: span for span in trace["spans"]}
    assert set(by_id) == {exported.parent_span_id, exported.child_span_id}
    parent, child = by_id[exported.parent_span_id], by_id[exported.child_span_id]
    assert parent["operationName"] == "deliver"
    assert parent["references"] == []
    assert child["operationName"] == "POST"
    assert child["references"] == [
        {"refType": "CHILD_OF", "traceID": exported.trace_id, "spanID": exported.parent_span_id}
    ]
    assert trace["processes"][parent["processID"]]["serviceName"] == SERVICE
    parent_tags = jaeger_tags(parent["tags"])
    assert parent_tags["harborhook.delivery_id"] == ("string", "d-42")
    assert parent_tags["harborhook.attempt"] == ("int64", 2)
    assert parent_tags["span.kind"] == ("string", "consumer")
    child_tags = jaeger_tags(child["tags"])
    assert child_tags["http.response.status_code"] == ("int64", 503)
    assert child_tags["error"] == ("bool", True)
    assert child_tags["otel.status_description"] == ("string", "endpoint answered 503")
    # Microseconds since the epoch, and a duration in microseconds.
    assert child["startTime"] >= parent["startTime"]
    assert child["startTime"] + child["duration"] <= parent["startTime"] + parent["duration"]


def test_an_unknown_trace_id_is_a_404_in_both_apis(jaeger_server: JaegerServer) -> None:
    unknown = "0123456789abcdef0123456789abcdef"

    assert jaeger_server.trace_v3(unknown) is None
    assert jaeger_server.trace_v1(unknown) is None
    answer = httpx.get(f"{jaeger_server.query_url}/api/v3/traces/{unknown}", timeout=5)
    assert answer.status_code == 404
    assert answer.json() == {"error": {"httpCode": 404, "message": "No traces found"}}
