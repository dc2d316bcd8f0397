"""`harborctl traces tail|show` and `logs tail` against the local files and against fakes
answering as the Tempo and Loki HTTP API documentation shows."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app
from harborctl.telemetry.jaeger import rfc3339_nano
from harborctl.telemetry.log_files import FileLogSource
from harborctl.telemetry.log_query import LogQuery
from harborctl.telemetry.log_tail import LogTailOptions, tail_logs
from harborctl.telemetry.loki import LokiClient, LokiLogSource
from harborctl.telemetry.span_file import FileTraceSource
from harborctl.telemetry.trace_tail import TailOptions, tail_traces
from tests.support.fake_loki import FakeLoki, running_fake_loki
from tests.support.fake_tempo import FakeTempo, running_fake_tempo
from tests.support.span_records import delivery_trace

runner = CliRunner()


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in (
        "HARBORHOOK_TEMPO_URL",
        "HARBORHOOK_JAEGER_URL",
        "HARBORHOOK_LOKI_URL",
        "HARBORHOOK_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def traces() -> list[list[dict[str, Any]]]:
    return [delivery_trace("ten_a"), delivery_trace("ten_b", failed_first=True)]


def write_spans(state_dir: Path, traces: list[list[dict[str, Any]]]) -> None:
    path = state_dir / "traces" / "spans.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        for records in traces:
            for record in records:
                handle.write(json.dumps(record) + "\n")


def log_line(
    message: str, *, level: str = "info", service: str = "harborhook-worker", **fields: Any
) -> dict[str, Any]:
    return {
        "timestamp": "2030-01-01T00:00:00+00:00",
        "level": level,
        "service": service,
        "logger": "harborctl.services.delivery",
        "message": message,
        **fields,
    }


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    return result


def json_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


# --- traces: the local span file and Tempo give the same answers ---------------------------


@pytest.fixture(params=["file", "tempo"])
def trace_store(
    request: pytest.FixtureRequest,
    state_dir: Path,
    traces: list[list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[FakeTempo | None]:
    if request.param == "file":
        write_spans(state_dir, traces)
        yield None
        return
    fake = FakeTempo()
    for records in traces:
        fake.add_records(records)
    with running_fake_tempo(fake) as url:
        monkeypatch.setenv("HARBORHOOK_TEMPO_URL", url)
        yield fake


def test_traces_tail_lists_each_trace_once(
    trace_store: FakeTempo | None, traces: list[list[dict[str, Any]]]
) -> None:
    result = run("traces", "tail", "--no-follow", "--json")
    assert result.exit_code == 0, result.output
    lines = json_lines(result.output)
    assert [line["trace_id"] for line in lines] == [t[0]["trace_id"] for t in traces]
    first, second = lines
    assert first["root_name"] == "PublishEvent"
    assert first["service"] == "harborhook-ingest"
    assert (first["status"], first["span_count"], first["tenant_id"]) == ("OK", 6, "ten_a")
    assert (second["status"], second["span_count"], second["tenant_id"]) == ("ERROR", 9, "ten_b")
    assert second["duration_ms"] == pytest.approx(150.0)

    errors = json_lines(run("traces", "tail", "--no-follow", "--json", "--errors-only").output)
    assert [line["trace_id"] for line in errors] == [traces[1][0]["trace_id"]]

    human = run("traces", "tail", "--no-follow")
    assert human.exit_code == 0
    assert "PublishEvent" in human.output
    assert "tenant=ten_b" in human.output
    if trace_store is not None:
        searches = [q for path, q in trace_store.requests if path == "/api/search"]
        assert searches
        assert all(q["start"].isdigit() and q["end"].isdigit() for q in searches)


def test_traces_tail_filters_by_service(trace_store: FakeTempo | None) -> None:
    only_worker = run("traces", "tail", "--no-follow", "--json", "--service", "harborhook-worker")
    assert len(json_lines(only_worker.output)) == 2
    nobody = run("traces", "tail", "--no-follow", "--json", "--service", "someone-else")
    assert json_lines(nobody.output) == []
    if trace_store is not None:
        tags = [q.get("tags") for path, q in trace_store.requests if path == "/api/search"]
        assert 'service.name="harborhook-worker"' in tags


def test_traces_show_builds_the_tree(
    trace_store: FakeTempo | None, traces: list[list[dict[str, Any]]]
) -> None:
    records = traces[1]
    trace_id = records[0]["trace_id"]
    result = run("traces", "show", trace_id, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["trace"]["span_count"] == 9
    by_id = {s["span_id"]: s for s in body["spans"]}
    assert set(by_id) == {r["span_id"] for r in records}
    for record in records:
        shown = by_id[record["span_id"]]
        assert shown["parent_span_id"] == record["parent_span_id"]
        assert shown["kind"] == record["kind"]
        assert shown["name"] == record["name"]
    attempts = [s for s in body["spans"] if s["name"] == "DeliveryAttempt"]
    assert [(a["attributes"]["attempt"], a["status"]) for a in attempts] == [
        (1, "ERROR"),
        (2, "UNSET"),
    ]

    human = run("traces", "show", trace_id)
    assert human.exit_code == 0, human.output
    for name in ("PublishEvent", "FanOut", "topic publish", "topic process", "POST"):
        assert name in human.output
    assert "ERROR" in human.output


def test_traces_show_unknown_id_exits_4(trace_store: FakeTempo | None) -> None:
    result = run("traces", "show", "0" * 31 + "1")
    assert result.exit_code == 4
    assert "not found" in result.output


def test_tempo_unreachable_is_one_clear_line(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARBORHOOK_TEMPO_URL", "http://127.0.0.1:9")
    result = run("traces", "show", "a" * 32)
    assert result.exit_code == 1
    assert "Tempo at http://127.0.0.1:9 is unreachable" in result.output


def test_tempo_comes_first_then_jaeger_then_the_span_file(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_spans(state_dir, [delivery_trace("ten_a")])
    monkeypatch.setenv("HARBORHOOK_JAEGER_URL", "http://127.0.0.1:7")
    monkeypatch.setenv("HARBORHOOK_TEMPO_URL", "http://127.0.0.1:9")
    both = run("traces", "tail", "--no-follow")
    monkeypatch.delenv("HARBORHOOK_TEMPO_URL")
    jaeger = run("traces", "tail", "--no-follow")
    monkeypatch.delenv("HARBORHOOK_JAEGER_URL")
    neither = run("traces", "tail", "--no-follow", "--json")

    assert both.exit_code == 1
    assert "Tempo at http://127.0.0.1:9 is unreachable" in both.output
    assert jaeger.exit_code == 1
    assert "Jaeger at http://127.0.0.1:7 is unreachable" in jaeger.output
    assert len(jaeger.output.strip().splitlines()) == 1
    assert neither.exit_code == 0
    assert [line["tenant_id"] for line in json_lines(neither.output)] == ["ten_a"]


def test_jaeger_search_times_are_rfc3339_with_nanoseconds() -> None:
    assert rfc3339_nano(0) == "1970-01-01T00:00:00.000000000Z"
    assert rfc3339_nano(1_893_456_000_123_456_789) == "2030-01-01T00:00:00.123456789Z"


def test_tail_follow_reports_a_trace_once_it_stops_growing(state_dir: Path) -> None:
    records = delivery_trace("ten_a", failed_first=True)
    first_part, retry = records[:6], records[6:]
    write_spans(state_dir, [first_part])
    now = [time.time()]
    sleeps = 0

    def sleep(seconds: float) -> None:
        nonlocal sleeps
        sleeps += 1
        if sleeps == 1:
            write_spans(state_dir, [retry])  # the retry lands while we watch
        now[0] += seconds

    options = TailOptions(follow=True, settle_seconds=2, poll_seconds=1, max_traces=1)
    source = FileTraceSource(state_dir / "traces" / "spans.jsonl")
    [summary] = list(tail_traces(source, options, clock=lambda: now[0], sleep=sleep))
    assert summary.span_count == 9  # reported complete, with the retry
    assert sleeps >= 3


# --- logs: the local files and Loki ---------------------------------------------------------

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def sample_logs() -> list[dict[str, Any]]:
    return [
        log_line("worker started"),
        log_line("delivered", trace_id=TRACE, span_id="00f067aa0ba902b7", tenant_id="ten_a"),
        log_line("attempt failed", level="warning", trace_id=TRACE, tenant_id="ten_a"),
        log_line("other tenant", trace_id="f" * 32, tenant_id="ten_b", level="error"),
        log_line("published", service="harborhook-ingest", trace_id=TRACE, tenant_id="ten_a"),
    ]


def stamped(records: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    base = time.time_ns() - 60_000_000_000
    out = []
    for i, record in enumerate(records):
        ts = base + i * 1_000_000
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 1_000_000_000))
        micros = (ts // 1000) % 1_000_000
        out.append((ts, {**record, "timestamp": f"{iso}.{micros:06d}+00:00"}))
    return out


@pytest.fixture(params=["file", "loki"])
def log_store(
    request: pytest.FixtureRequest, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeLoki | None]:
    entries = stamped(sample_logs())
    if request.param == "file":
        logs = state_dir / "logs"
        logs.mkdir()
        for _ts, record in entries:
            with (logs / f"{record['service']}.jsonl").open("a") as handle:
                handle.write(json.dumps(record) + "\n")
        yield None
        return
    fake = FakeLoki()
    for ts, record in entries:
        fake.push(record, ts)
    with running_fake_loki(fake) as url:
        monkeypatch.setenv("HARBORHOOK_LOKI_URL", url)
        yield fake


def test_logs_tail_by_trace_id(log_store: FakeLoki | None) -> None:
    result = run("logs", "tail", "--trace-id", TRACE, "--json")
    assert result.exit_code == 0, result.output
    lines = json_lines(result.output)
    assert [line["message"] for line in lines] == ["delivered", "attempt failed", "published"]
    assert {line["trace_id"] for line in lines} == {TRACE}
    if log_store is not None:
        query = log_store.queries[-1]["query"]
        assert query == f'{{service=~"harborhook-.*"}} | json | trace_id="{TRACE}"'


def test_logs_tail_by_tenant_and_level(log_store: FakeLoki | None) -> None:
    tenant = json_lines(run("logs", "tail", "--tenant", "ten_b", "--json").output)
    assert [line["message"] for line in tenant] == ["other tenant"]
    warnings = json_lines(run("logs", "tail", "--level", "warning", "--json").output)
    assert [line["message"] for line in warnings] == ["attempt failed", "other tenant"]
    if log_store is not None:
        assert 'level=~"warning|error|critical"' in log_store.queries[-1]["query"]
    human = run("logs", "tail", "--trace-id", TRACE)
    assert "attempt failed" in human.output
    assert f"trace_id={TRACE}" in human.output
    assert run("logs", "tail", "--level", "loud").exit_code == 2


def test_logs_follow_polls_from_the_last_timestamp(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeLoki()
    entries = stamped(sample_logs())
    for ts, record in entries[:2]:
        fake.push(record, ts)
    with running_fake_loki(fake) as url:
        client = LokiClient(url)
        pushed = False

        def sleep(_: float) -> None:
            nonlocal pushed
            if not pushed:
                for ts, record in entries[2:]:
                    fake.push(record, ts)
                pushed = True

        options = LogTailOptions(follow=True, max_lines=5)
        got = list(tail_logs(LokiLogSource(client), LogQuery(), options, sleep=sleep))
        client.close()
    assert [e.record["message"] for e in got] == [r["message"] for _, r in entries]
    follow_query = fake.queries[-1]
    assert int(follow_query["start"]) == entries[1][0]  # from the last line seen
    assert follow_query["direction"] == "forward"


def test_local_log_follow_reads_only_new_lines(state_dir: Path) -> None:
    logs = state_dir / "logs"
    logs.mkdir()
    entries = stamped(sample_logs())
    path = logs / "harborhook-worker.jsonl"
    path.write_text(json.dumps(entries[0][1]) + "\n")

    def sleep(_: float) -> None:
        with path.open("a") as handle:
            handle.write(json.dumps(entries[1][1]) + "\n")

    options = LogTailOptions(follow=True, max_lines=2)
    got = list(tail_logs(FileLogSource(logs), LogQuery(), options, sleep=sleep))
    assert [e.record["message"] for e in got] == ["worker started", "delivered"]
