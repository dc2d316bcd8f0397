"""One event traced end to end through real processes: publish → fan-out → queue → worker →
HTTP POST, with the logs of its deliveries carrying the same trace id.

Runs with SQLite + the `db` transport and with PostgreSQL + real nsqd/nsqlookupd.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app
from tests.support.pipeline import Pipeline, received
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


def state(pipeline: Pipeline) -> Path:
    return pipeline.workdir / "state"


def spans_of(pipeline: Pipeline, trace_id: str) -> list[dict[str, Any]]:
    path = state(pipeline) / "traces" / "spans.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [s for s in lines if s["trace_id"] == trace_id]


def wait_for_spans(
    pipeline: Pipeline, trace_id: str, name: str, count: int
) -> list[dict[str, Any]]:
    """The trace's spans once ``count`` spans called ``name`` have been exported, and every
    span's parent too: a parent ends (and is exported) after its children."""

    def enough() -> list[dict[str, Any]] | None:
        found = spans_of(pipeline, trace_id)
        ids = {s["span_id"] for s in found}
        complete = all(s["parent_span_id"] in ids for s in found if s["parent_span_id"])
        return found if complete and sum(s["name"] == name for s in found) >= count else None

    return wait_until(enough, 20, interval=0.1, describe=f"{count} {name} spans of {trace_id}")


def log_lines(pipeline: Pipeline) -> list[dict[str, Any]]:
    lines = []
    for path in sorted((state(pipeline) / "logs").glob("*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return lines


def one(spans: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [found] = [s for s in spans if s["name"] == name]
    return found


def test_one_publish_to_two_endpoints_is_one_trace(pipeline: Pipeline, receiver: str) -> None:
    tenant = pipeline.tenant()
    endpoints = [tenant.endpoint(f"{receiver}/t1/ok"), tenant.endpoint(f"{receiver}/t2/ok")]
    published = tenant.publish({"order": 1})
    trace_id = published["trace_id"]
    assert isinstance(trace_id, str) and len(trace_id) == 32
    deliveries = tenant.wait_for_status(published["event_id"], "delivered", count=2)

    spans = wait_for_spans(pipeline, trace_id, "POST", 2)
    server, fan_out = one(spans, "PublishEvent"), one(spans, "FanOut")
    assert (server["kind"], server["parent_span_id"]) == ("SERVER", None)
    assert server["service"] == "harborhook-ingest"
    assert server["attributes"]["event_id"] == published["event_id"]
    assert fan_out["parent_span_id"] == server["span_id"]
    assert fan_out["attributes"]["fanout_count"] == 2

    consumers = [s for s in spans if s["kind"] == "CONSUMER"]
    assert len(consumers) == 2
    if pipeline.transport == "nsq":
        producer = one([s for s in spans if s["kind"] == "PRODUCER"], s_name(spans, "PRODUCER"))
        assert producer["parent_span_id"] == fan_out["span_id"]
        assert producer["attributes"]["messaging.system"] == "nsq"
        assert producer["attributes"]["messaging.operation"] == "publish"
        topic = producer["attributes"]["messaging.destination.name"]
        assert topic.startswith("deliveries.")
        hop_parent = producer["span_id"]  # across the NSQ hop, from the envelope
    else:
        hop_parent = fan_out["span_id"]  # the db transport: the context stored with the row
    for consumer in consumers:
        assert consumer["parent_span_id"] == hop_parent
        assert consumer["service"] == "harborhook-worker"
        assert consumer["attributes"]["messaging.operation"] == "process"
        assert consumer["attributes"]["tenant_id"] == tenant.id
        assert consumer["attributes"]["event_id"] == published["event_id"]
    assert {c["attributes"]["delivery_id"] for c in consumers} == {
        d["delivery_id"] for d in deliveries
    }
    assert {c["attributes"]["endpoint_id"] for c in consumers} == set(endpoints)
    attempts = [s for s in spans if s["name"] == "DeliveryAttempt"]
    clients = [s for s in spans if s["kind"] == "CLIENT"]
    assert sorted(a["parent_span_id"] for a in attempts) == sorted(c["span_id"] for c in consumers)
    assert sorted(c["parent_span_id"] for c in clients) == sorted(a["span_id"] for a in attempts)
    assert all(a["attributes"]["attempt"] == 1 for a in attempts)

    for path in ("/t1/ok", "/t2/ok"):
        [got] = received(receiver, path)
        assert got["headers"]["x-trace-id"] == trace_id
        assert got["headers"]["traceparent"].split("-")[1] == trace_id

    delivery_ids = {d["delivery_id"] for d in deliveries}
    mine = [line for line in log_lines(pipeline) if line.get("delivery_id") in delivery_ids]
    assert {line["delivery_id"] for line in mine} == delivery_ids  # each one logged
    assert {line.get("trace_id") for line in mine} == {trace_id}
    assert all(line["service"] == "harborhook-worker" and line["span_id"] for line in mine)

    result = CliRunner().invoke(
        app, ["traces", "show", trace_id], env={"HARBORHOOK_STATE_DIR": str(state(pipeline))}
    )
    assert result.exit_code == 0, result.output
    for name in ("PublishEvent", "FanOut", "process", "DeliveryAttempt", "POST"):
        assert name in result.output


def s_name(spans: list[dict[str, Any]], kind: str) -> str:
    [name] = {s["name"] for s in spans if s["kind"] == kind}
    return name


def test_retried_delivery_has_one_attempt_span_per_attempt(
    pipeline: Pipeline, receiver: str
) -> None:
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/retry/fail/2")
    published = tenant.publish({"n": 1})
    [done] = tenant.wait_for_status(published["event_id"], "delivered")
    assert done["attempts"] == 3
    trace_id = published["trace_id"]

    spans = wait_for_spans(pipeline, trace_id, "DeliveryAttempt", 3)
    attempts = sorted(
        (s for s in spans if s["name"] == "DeliveryAttempt"),
        key=lambda s: s["attributes"]["attempt"],
    )
    assert [a["attributes"]["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == ["ERROR", "ERROR", "UNSET"]
    assert [a["attributes"]["http.response.status_code"] for a in attempts] == [500, 500, 200]
    consumers = {s["span_id"]: s for s in spans if s["kind"] == "CONSUMER"}
    assert len({a["parent_span_id"] for a in attempts}) == 3  # each retry: a new message span
    assert all(a["parent_span_id"] in consumers for a in attempts)
    assert {s["trace_id"] for s in spans} == {trace_id}
    headers = [r["headers"]["x-trace-id"] for r in received(receiver, "/retry/fail/2")]
    assert headers == [trace_id] * 3


def test_sampling_zero_still_delivers_and_correlates_logs(tmp_path: Path, receiver: str) -> None:
    pipeline = Pipeline(
        tmp_path, f"sqlite:///{tmp_path}/hh.db", "db", {"HARBORHOOK_TRACE_SAMPLE_RATIO": "0"}
    )
    try:
        pipeline.start_ingest()
        pipeline.start_worker()
        tenant = pipeline.tenant()
        tenant.endpoint(f"{receiver}/unsampled/ok")
        published = tenant.publish({"n": 2})
        [done] = tenant.wait_for_status(published["event_id"], "delivered")
        trace_id = published["trace_id"]
        [got] = received(receiver, "/unsampled/ok")
        assert got["headers"]["x-trace-id"] == trace_id
        mine = [
            line for line in log_lines(pipeline) if line.get("delivery_id") == done["delivery_id"]
        ]
        assert mine and {line["trace_id"] for line in mine} == {trace_id}
    finally:
        pipeline.stop()  # flushes: nothing of the unsampled trace may be in the file
    assert spans_of(pipeline, trace_id) == []
