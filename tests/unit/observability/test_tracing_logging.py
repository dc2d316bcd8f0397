"""The span file exporter, W3C propagation helpers and the JSON log formatter."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode

from harborctl.observability.logging import JsonFormatter, log_context
from harborctl.observability.tracing import (
    JsonLinesSpanExporter,
    current_ids,
    extract_context,
    inject_context,
    traced_handler,
)
from harborctl.queue.envelope import DeliveryMessage

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def provider(path: Path, ratio: float = 1.0) -> TracerProvider:
    made = TracerProvider(
        resource=Resource.create({"service.name": "harborhook-test"}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
    )
    made.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(path)))
    return made


def test_span_file_lines_carry_ids_parents_and_status(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "spans.jsonl"
    tracer = provider(path).get_tracer("t")
    with (
        tracer.start_as_current_span("outer", kind=SpanKind.SERVER) as outer,
        tracer.start_as_current_span("inner", attributes={"attempt": 2}) as inner,
    ):
        inner.set_status(StatusCode.ERROR, "HTTP 500")
    inner_line, outer_line = (json.loads(line) for line in path.read_text().splitlines())
    assert inner_line["parent_span_id"] == outer_line["span_id"]
    assert outer_line["parent_span_id"] is None
    assert (
        inner_line["trace_id"]
        == outer_line["trace_id"]
        == f"{outer.get_span_context().trace_id:032x}"
    )
    assert (outer_line["kind"], inner_line["status"]) == ("SERVER", "ERROR")
    assert inner_line["status_message"] == "HTTP 500"
    assert inner_line["attributes"] == {"attempt": 2}
    assert inner_line["service"] == "harborhook-test"
    assert inner_line["end_unix_nano"] >= inner_line["start_unix_nano"] > 0


def test_context_round_trips_through_a_dict(tmp_path: Path) -> None:
    tracer = provider(tmp_path / "s.jsonl").get_tracer("t")
    with tracer.start_as_current_span("producer") as span:
        carrier = inject_context()
    assert carrier["traceparent"].split("-")[1] == f"{span.get_span_context().trace_id:032x}"
    with tracer.start_as_current_span("consumer", context=extract_context(carrier)) as child:
        assert child.get_span_context().trace_id == span.get_span_context().trace_id
    assert inject_context(extract_context({})) == {}


def test_sampling_zero_exports_nothing_but_keeps_the_trace_id(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    tracer = provider(path, ratio=0.0).get_tracer("t")
    with tracer.start_as_current_span("dropped"):
        trace_id, span_id = current_ids()
        carrier = inject_context()
    assert trace_id and span_id
    flags = int(carrier["traceparent"].rsplit("-", 1)[1], 16)
    assert flags & 1 == 0  # not sampled, still propagated
    assert not path.exists()


def test_consumer_handler_continues_the_envelope_context_without_an_sdk() -> None:
    message = DeliveryMessage("dlv_1", "evt_1", "ten_1", "ep_1", {"traceparent": PARENT})
    seen: list[str | None] = []

    async def handler(msg: DeliveryMessage, claimed: bool) -> bool:
        seen.append(current_ids()[0])
        return claimed

    wrapped = traced_handler(handler, system="nsq", destination="topic")
    assert asyncio.run(wrapped(message, True)) is True
    assert seen == ["4bf92f3577b34da6a3ce929d0e0e4736"]


def test_json_log_line_has_trace_and_delivery_fields(tmp_path: Path) -> None:
    tracer = provider(tmp_path / "s.jsonl").get_tracer("t")
    formatter = JsonFormatter("harborhook-worker")
    record = logging.LogRecord("harborctl.x", logging.WARNING, __file__, 1, "hi %s", ("you",), None)
    with (
        tracer.start_as_current_span("s") as span,
        log_context(tenant_id="ten_1"),
        log_context(delivery_id="dlv_1", event_id=None),
    ):
        line = json.loads(formatter.format(record))
    ctx = span.get_span_context()
    assert line["message"] == "hi you"
    assert (line["level"], line["service"]) == ("warning", "harborhook-worker")
    assert line["trace_id"] == f"{ctx.trace_id:032x}"
    assert line["span_id"] == f"{ctx.span_id:016x}"
    assert (line["tenant_id"], line["delivery_id"]) == ("ten_1", "dlv_1")
    assert "event_id" not in line
    assert line["timestamp"].endswith("+00:00")
    outside = json.loads(formatter.format(record))
    assert "trace_id" not in outside and "tenant_id" not in outside
