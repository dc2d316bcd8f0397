"""`harborctl traces show|tail` reading the real Jaeger (query API v3) when jaeger_url is set.

First with known spans exported over OTLP/HTTP (the same synthetic delivery traces the span
file and Tempo readers are tested with), then with a real delivery: ingest and worker
processes exporting over OTLP to Jaeger, PostgreSQL, and the message crossing real nsqd.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app
from tests.support.jaeger import JaegerServer, jaeger_server
from tests.support.pipeline import Pipeline, pipeline_env_for_nsq, received
from tests.support.services import Nsqd
from tests.support.span_records import delivery_trace, otlp_json
from tests.support.wait import wait_until

__all__ = ["jaeger_server"]  # the session fixture, imported for pytest

pytestmark = pytest.mark.slow

runner = CliRunner()


@pytest.fixture
def jaeger_cli(
    jaeger_server: JaegerServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> JaegerServer:
    """The CLI's settings: jaeger_url set, no tempo_url, an empty state dir (no span file)."""
    for name in ("HARBORHOOK_TEMPO_URL", "HARBORHOOK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path / "cli-state"))
    monkeypatch.setenv("HARBORHOOK_JAEGER_URL", jaeger_server.query_url)
    return jaeger_server


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def tail(*args: str, ids: set[str]) -> list[dict[str, Any]]:
    """``traces tail --no-follow --json`` lines of the traces in ``ids`` (the session's
    Jaeger also holds other tests' traces)."""
    result = cli("traces", "tail", "--no-follow", "--json", "--since", "120", *args)
    assert result.exit_code == 0, result.output
    return [line for line in json_lines(result.output) if line["trace_id"] in ids]


# --- known spans ---------------------------------------------------------------------------


@pytest.fixture
def exported(jaeger_cli: JaegerServer) -> list[list[dict[str, Any]]]:
    """Two delivery traces in Jaeger: ten_a delivered at once, ten_b after a failed attempt."""
    traces = [delivery_trace("ten_a"), delivery_trace("ten_b", failed_first=True)]
    for records in traces:
        jaeger_cli.export_otlp_json(otlp_json(records))
    for records in traces:
        jaeger_cli.wait_for_spans(records[0]["trace_id"], len(records))
    return traces


def test_tail_lists_each_trace_from_jaeger(exported: list[list[dict[str, Any]]]) -> None:
    ids = {records[0]["trace_id"] for records in exported}

    lines = tail(ids=ids)

    assert [line["trace_id"] for line in lines] == [t[0]["trace_id"] for t in exported]
    first, second = lines
    assert (first["root_name"], first["service"]) == ("PublishEvent", "harborhook-ingest")
    assert (first["status"], first["span_count"], first["tenant_id"]) == ("OK", 6, "ten_a")
    assert (second["status"], second["span_count"], second["tenant_id"]) == ("ERROR", 9, "ten_b")
    assert second["error_count"] == 2
    assert second["duration_ms"] == pytest.approx(150.0)
    assert [line["trace_id"] for line in tail("--errors-only", ids=ids)] == [
        exported[1][0]["trace_id"]
    ]


def test_tail_asks_jaeger_for_one_service(exported: list[list[dict[str, Any]]]) -> None:
    ids = {records[0]["trace_id"] for records in exported}

    assert len(tail("--service", "harborhook-worker", ids=ids)) == 2
    assert tail("--service", "someone-else", ids=ids) == []


def test_show_draws_the_tree_jaeger_stored(exported: list[list[dict[str, Any]]]) -> None:
    records = exported[1]
    trace_id = records[0]["trace_id"]

    result = cli("traces", "show", trace_id, "--json")

    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["trace"]["span_count"] == 9
    assert body["trace"]["root_name"] == "PublishEvent"
    shown = {s["span_id"]: s for s in body["spans"]}
    assert set(shown) == {r["span_id"] for r in records}
    for record in records:
        span = shown[record["span_id"]]
        assert span["trace_id"] == trace_id
        assert span["parent_span_id"] == record["parent_span_id"]
        assert (span["name"], span["kind"], span["service"]) == (
            record["name"],
            record["kind"],
            record["service"],
        )
        assert (span["start_unix_nano"], span["end_unix_nano"]) == (
            record["start_unix_nano"],
            record["end_unix_nano"],
        )
        assert span["status"] == record["status"]
    attempts = sorted(
        (s for s in body["spans"] if s["name"] == "DeliveryAttempt"),
        key=lambda s: s["attributes"]["attempt"],
    )
    assert [
        (a["attributes"]["attempt"], a["attributes"]["http.response.status_code"], a["status"])
        for a in attempts
    ] == [(1, 500, "ERROR"), (2, 200, "UNSET")]
    assert attempts[0]["status_message"] == "HTTP 500"

    human = cli("traces", "show", trace_id)
    assert human.exit_code == 0, human.output
    for name in ("PublishEvent", "FanOut", "topic publish", "topic process", "POST", "ERROR"):
        assert name in human.output


def test_an_unknown_trace_is_exit_4_and_a_malformed_id_exit_2(jaeger_cli: JaegerServer) -> None:
    unknown = cli("traces", "show", "0123456789abcdef0123456789abcdef")
    malformed = cli("traces", "show", "not-a-trace-id")

    assert unknown.exit_code == 4, unknown.output
    assert "not found" in unknown.output
    assert malformed.exit_code == 2, malformed.output
    assert "not-a-trace-id" in malformed.output
    assert "Traceback" not in unknown.output + malformed.output


# --- a real delivery across the NSQ hop ------------------------------------------------------


@pytest.fixture
def traced_pipeline(
    tmp_path: Path, postgres_url: str, nsqd: Nsqd, jaeger_server: JaegerServer
) -> Iterator[Pipeline]:
    """Real ingest and worker on PostgreSQL and nsqd, exporting spans over OTLP to Jaeger."""
    env = {
        **pipeline_env_for_nsq(nsqd.tcp_address, nsqd.lookupd.http_address),
        "HARBORHOOK_OTLP_ENDPOINT": jaeger_server.otlp_url,
    }
    made = Pipeline(tmp_path, postgres_url, "nsq", env)
    try:
        made.start_ingest()
        made.start_worker()
        yield made
    finally:
        made.stop()


def test_a_delivery_across_nsq_is_one_trace_in_jaeger(
    traced_pipeline: Pipeline, jaeger_cli: JaegerServer, receiver: str
) -> None:
    tenant = traced_pipeline.tenant()
    endpoint_id = tenant.endpoint(f"{receiver}/jaeger/fail/1")
    published = tenant.publish({"order": 7})
    trace_id = published["trace_id"]
    [delivery] = tenant.wait_for_status(published["event_id"], "delivered")
    assert delivery["attempts"] == 2
    jaeger_cli.wait_for_spans(trace_id, 9, timeout=30)

    result = cli("traces", "show", trace_id, "--json")

    assert result.exit_code == 0, result.output
    spans = json.loads(result.output)["spans"]
    assert {s["trace_id"] for s in spans} == {trace_id}
    by_name: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    topic = traced_pipeline.env["HARBORHOOK_DELIVERIES_TOPIC"]
    # PublishEvent, FanOut, the ingest's publish, and per attempt: process, DeliveryAttempt
    # and POST. The reconciler may publish the waiting retry once more (another producer
    # span, and a consumer span that finds the delivery claimed): never another attempt.
    assert set(by_name) == {
        "PublishEvent",
        "FanOut",
        f"{topic} publish",
        f"{topic} process",
        "DeliveryAttempt",
        "POST",
    }
    [server], [fan_out] = by_name["PublishEvent"], by_name["FanOut"]
    assert (server["kind"], server["parent_span_id"], server["service"]) == (
        "SERVER",
        None,
        "harborhook-ingest",
    )
    assert server["attributes"]["event_id"] == published["event_id"]
    assert fan_out["parent_span_id"] == server["span_id"]
    producers = {s["span_id"]: s for s in by_name[f"{topic} publish"]}
    [producer] = [p for p in producers.values() if p["service"] == "harborhook-ingest"]
    assert (producer["kind"], producer["parent_span_id"]) == ("PRODUCER", fan_out["span_id"])
    assert producer["attributes"]["messaging.system"] == "nsq"
    assert all(p["kind"] == "PRODUCER" for p in producers.values())
    consumers = {s["span_id"]: s for s in by_name[f"{topic} process"]}
    for consumer in consumers.values():  # across the NSQ hop: the context from the envelope
        assert consumer["kind"] == "CONSUMER"
        assert consumer["parent_span_id"] in producers
        assert consumer["service"] == "harborhook-worker"
        assert consumer["attributes"]["delivery_id"] == delivery["delivery_id"]
        assert consumer["attributes"]["endpoint_id"] == endpoint_id
    attempts = sorted(by_name["DeliveryAttempt"], key=lambda s: s["attributes"]["attempt"])
    assert [(a["attributes"]["attempt"], a["status"]) for a in attempts] == [
        (1, "ERROR"),
        (2, "UNSET"),
    ]
    assert all(a["parent_span_id"] in consumers for a in attempts)
    assert consumers[attempts[0]["parent_span_id"]]["parent_span_id"] == producer["span_id"]
    posts = by_name["POST"]
    assert sorted(p["parent_span_id"] for p in posts) == sorted(a["span_id"] for a in attempts)
    assert all(p["kind"] == "CLIENT" for p in posts)
    assert [r["headers"]["x-trace-id"] for r in received(receiver, "/jaeger/fail/1")] == [
        trace_id
    ] * 2

    human = cli("traces", "show", trace_id)
    assert human.exit_code == 0, human.output
    for name in ("PublishEvent", "FanOut", "publish", "process", "DeliveryAttempt", "POST"):
        assert name in human.output

    def listed() -> list[dict[str, Any]]:
        return tail(ids={trace_id})

    [line] = wait_until(listed, 10, interval=0.2, describe=f"traces tail to list {trace_id}")
    assert (line["root_name"], line["service"]) == ("PublishEvent", "harborhook-ingest")
    assert (line["status"], line["tenant_id"]) == ("ERROR", tenant.id)
    assert line["span_count"] >= len(spans) >= 9
