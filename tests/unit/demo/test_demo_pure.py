"""The demo's pure parts: the scenario, Alertmanager's notifications as the recorder got them,
the check verdicts, the live summary, and putting files back."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from harborctl.alerting.profiles import Profile, rule_profile
from harborctl.alerting.verdict import Counters, NotifyEvent, ReceiverVerdict
from harborctl.alerting_spec import AlertingSpec, SloSpec, burn_threshold
from harborctl.demo import checks, scenario
from harborctl.demo.cleanup import failed_notifications_note
from harborctl.demo.notifications import (
    first_firing,
    first_resolved,
    notification_entries,
    notifications,
    route_verdicts,
)
from harborctl.demo.restore import Changes, FileSnapshot
from harborctl.demo.summary import first_success_latencies, percentile, summarize
from harborctl.telemetry.trace_model import span_from_record
from tests.support.span_records import delivery_trace

# --- scenario -----------------------------------------------------------------------------------


def test_the_dead_endpoint_gets_enough_of_the_traffic_to_page() -> None:
    rng = random.Random(7)
    types = [scenario.next_event_type(rng) for _ in range(4000)]
    deliveries = [e.key for t in types for e in scenario.fan_out(t)]
    dead_share = deliveries.count("dead") / len(deliveries)
    page = rule_profile(Profile.demo, AlertingSpec()).windows.burn_windows[0]
    assert dead_share > 2 * burn_threshold(SloSpec(), page)  # 31% against 14.4%
    assert set(deliveries) == {e.key for e in scenario.ENDPOINTS}


def test_endpoints_have_distinct_paths_and_the_dead_one_dies_at_once() -> None:
    paths = [e.path for e in scenario.ENDPOINTS]
    assert len(set(paths)) == len(paths)
    dead = scenario.endpoint("dead")
    assert (dead.max_attempts, dead.breaker_failure_threshold) == (1, 1_000_000)
    assert dead.path == "/demo/dead/status/500"
    limited = scenario.endpoint("rate-limited")
    assert limited.path == "/demo/rate-limited/fail/3"
    assert limited.url("http://127.0.0.1:9/") == (
        "http://127.0.0.1:9/demo/rate-limited/fail/3?status=429&retry_after=2"
    )
    # fewer failures in a row than a default circuit breaker needs (5): they recover
    assert scenario.endpoint("flaky").behaviour == "fail/3"
    with pytest.raises(KeyError):
        scenario.endpoint("nope")


def test_payloads_are_json_with_exact_money() -> None:
    rng = random.Random(1)
    order = scenario.payload(12, "order.created", rng)
    data = json.loads(order)
    assert data["order_id"] == "ord_000012" and data["currency"] == "EUR"
    assert re.search(rb'"amount":\d+\.\d\d}$', order)
    customer = json.loads(scenario.payload(3, "customer.updated", rng))
    assert customer["email"] == "customer3@example.com"


# --- notifications ------------------------------------------------------------------------------


def _body(status: str, *alerts: tuple[str, str]) -> str:
    return json.dumps(
        {
            "version": "4",
            "status": status,
            "receiver": "harborhook-demo",
            "alerts": [
                {"status": s, "labels": {"alertname": name, "long_window": "1m"}}
                for name, s in alerts
            ],
        }
    )


def _record(at: str, body: str) -> dict[str, Any]:
    return {"received_at": f"2030-01-01T00:00:{at}+00:00", "body": body}


def test_firing_then_resolved_from_the_recorder() -> None:
    burn = scenario.DRIVEN_ALERT
    found = notifications(
        [
            _record("01", "not json"),
            _record("02", json.dumps({"version": "3"})),
            _record("10", _body("firing", ("Other", "firing"))),
            _record("20", _body("firing", (burn, "firing"), (burn, "firing"))),
            _record("30", _body("firing", (burn, "resolved"), (burn, "firing"))),  # one of two
            _record("40", _body("resolved", (burn, "resolved"), (burn, "resolved"))),
        ]
    )
    assert len(found) == 4
    fired = first_firing(found, burn)
    assert fired is not None and fired.received_at.second == 20
    resolved = first_resolved(found, burn, after=fired.received_at)
    assert resolved is not None and resolved.received_at.second == 40
    assert first_resolved(found, "Other") is None
    assert first_firing(found, "Nothing") is None


def test_notification_entries_name_the_driven_alert_then_each_verdict() -> None:
    burn = scenario.DRIVEN_ALERT
    [found] = notifications([_record("20", _body("firing", (burn, "firing"), ("Other", "firing")))])
    verdict = ReceiverVerdict("slack", ("slack",), "failed", "invalid_auth", "log")
    entries = notification_entries("firing", found, [verdict], burn)
    assert entries == [
        {
            "status": "firing",
            "receiver": "harborhook-demo",
            "received_at": "2030-01-01T00:00:20+00:00",
            "alerts": [{"status": "firing", "labels": {"alertname": burn, "long_window": "1m"}}],
        },
        {"status": "firing", **verdict.to_dict()},
    ]
    assert notification_entries("resolved", None, [], burn) == []


def test_a_note_only_when_alertmanager_gave_up_on_more_notifications() -> None:
    assert failed_notifications_note({"email": 1.0}, {"email": 1.0, "slack": 0.0}) is None
    note = failed_notifications_note({"email": 1.0}, {"email": 3.0, "webhook": 1.0})
    assert note is not None and "(2 email, 1 webhook)" in note


def test_route_verdicts_count_what_every_receiver_of_the_route_was_sent() -> None:
    expected = {"slack": ["slack"], "hook": ["webhook"]}

    def verdicts(
        slack: float, webhook: float, final: bool = False, events: list[NotifyEvent] | None = None
    ) -> dict[str, tuple[str, str | None]]:
        grown = {"slack": Counters(requests=slack), "webhook": Counters(requests=webhook)}
        found = route_verdicts(expected, grown, events or [], each=2, final=final)
        return {v.receiver: (v.result, v.detail) for v in found}

    # two notifications each: slack's 2 are enough, the webhook type needs 2 for the
    # recorder and 2 for hook
    assert verdicts(2, 2) == {
        "slack": ("delivered", "Alertmanager counted 2 notification(s) to it"),
        "hook": ("pending", None),
    }
    assert verdicts(2, 4)["hook"][0] == "delivered"
    late = verdicts(1, 4, final=True)["slack"]
    assert late == (
        "failed",
        "Alertmanager counted 1 of 2 successful slack notifications; its log names the "
        "receiver's error",
    )
    error = NotifyEvent("slack", "slack[0]", False, "403: invalid_token", gave_up=True)
    assert verdicts(0, 4, events=[error])["slack"] == ("failed", "403: invalid_token")


# --- checks: traces and logs --------------------------------------------------------------------


def _spans(records: list[dict[str, Any]]) -> list[Any]:
    return [span_from_record(r) for r in records]


def test_a_whole_delivery_tree_passes() -> None:
    spans = _spans(delivery_trace(failed_first=True))
    check = checks.check_trace(spans, "dlv_1", 2, nsq=True)
    assert check.ok, check.detail
    assert "2 x process" in check.detail and "9 spans" in check.detail


@pytest.mark.parametrize(
    ("drop", "problem"),
    [
        ("PublishEvent", "no PublishEvent server span"),
        ("FanOut", "no FanOut under PublishEvent"),
        ("topic publish", "no NSQ publish"),
        ("POST", "no POST (client) span"),
        ("DeliveryAttempt", "no DeliveryAttempt under process span"),
    ],
)
def test_a_missing_span_or_link_is_named(drop: str, problem: str) -> None:
    records = [r for r in delivery_trace() if r["name"] != drop]
    check = checks.check_trace(_spans(records), "dlv_1", 1, nsq=True)
    assert not check.ok and problem in check.detail


def test_fewer_process_spans_than_attempts_fail_and_db_needs_no_producer() -> None:
    spans = _spans(delivery_trace())
    assert (
        "1 process (consumer) spans for 2 attempts"
        in checks.check_trace(spans, "dlv_1", 2, nsq=True).detail
    )
    records = delivery_trace()
    fan = next(r for r in records if r["name"] == "FanOut")
    for record in records:  # the db transport: process spans hang under FanOut directly
        if record["kind"] == "CONSUMER":
            record["parent_span_id"] = fan["span_id"]
    records = [r for r in records if r["kind"] != "PRODUCER"]
    assert checks.check_trace(_spans(records), "dlv_1", 1, nsq=False).ok
    assert not checks.check_trace([], "dlv_1", 1, nsq=False).ok


def test_logs_must_all_carry_the_trace_id() -> None:
    lines: list[dict[str, Any]] = [
        {"delivery_id": "d1", "trace_id": "t1", "span_id": "s1"},
        {"delivery_id": "d1", "trace_id": "t1", "span_id": "s2"},
        {"delivery_id": "d2", "trace_id": "other"},  # another delivery: not counted
    ]
    assert checks.check_logs(lines, "d1", "t1", 2).ok
    assert "1 log lines for 2 attempts" in checks.check_logs(lines[:1], "d1", "t1", 2).detail
    missing: list[dict[str, Any]] = [*lines, {"delivery_id": "d1", "trace_id": None}]
    bad = checks.check_logs(missing, "d1", "t1", 2)
    assert not bad.ok and "1 of 3 lines without trace id t1" in bad.detail


# --- checks: metrics, alerts, replay, restore -----------------------------------------------------


def test_metric_queries_name_the_demo_tenant_endpoints_and_profile() -> None:
    queries = checks.catalogue_queries(
        "ten_1", {"dead": "ep_d", "healthy": "ep_h"}, short_window="20s", nsq=False
    )
    text = "\n".join(q.promql for q in queries)
    assert 'tenant_id="ten_1"' in text and 'endpoint_id=~"ep_d|ep_h"' in text
    assert 'harborhook_dlq_total{endpoint_id="ep_d"}' in text
    assert "harborhook:delivery_error_ratio:rate20s" in text
    assert "nsq" not in text
    with_nsq = checks.catalogue_queries("t", {"dead": "e"}, short_window="5m", nsq=True)
    assert any("harborhook_nsq_channel_depth" in q.promql for q in with_nsq)


def test_a_query_must_return_finite_data_with_the_labels_asked_for() -> None:
    query = checks.MetricQuery("by outcome", "q", {"status": frozenset({"delivered", "dead"})})

    def sample(value: str, **labels: str) -> dict[str, Any]:
        return {"metric": labels, "value": [1.0, value]}

    assert checks.query_problem(query, []) == "no data"
    assert checks.query_problem(query, [sample("NaN", status="dead")]) == "no data"
    assert checks.query_problem(query, [sample("3", status="dead")]) == "no status=delivered"
    good = [sample("3", status="dead"), sample("9", status="delivered")]
    assert checks.query_problem(query, good) is None
    verdict = checks.check_metrics([(query, good), (checks.MetricQuery("x", "x"), "refused")])
    assert not verdict.ok and verdict.detail == "x: refused"
    assert checks.check_metrics([(query, good)]).ok


def test_alert_checks_need_the_recorder_and_every_named_receiver() -> None:
    ok = ReceiverVerdict("slack", ("slack",), "delivered", "counted 1")
    failed = ReceiverVerdict("email", ("email",), "failed", "535 auth")
    assert checks.check_alert("fired", 12.0, [ok], "it fired").ok
    assert (
        "the recorder and slack notified after 12s"
        in checks.check_alert("fired", 12.0, [ok], "it fired").detail
    )
    assert not checks.check_alert("fired", None, [ok], "it fired").ok
    bad = checks.check_alert("fired", 3.0, [ok, failed], "it fired")
    assert not bad.ok and bad.detail == "email: failed (535 auth)"


def test_replay_check() -> None:
    pairs = [("n1", "o1"), ("n2", "o2")]
    landed = {
        "n1": {"status": "delivered", "replay_of": "o1"},
        "n2": {"status": "delivered", "replay_of": "o2"},
    }
    assert checks.check_replay(pairs, landed, 0).ok
    assert not checks.check_replay([], {}, 0).ok
    late = {**landed, "n2": {"status": "queued", "replay_of": "o2"}}
    assert "n2 is queued" in checks.check_replay(pairs, late, 0).detail
    assert "1 dead deliveries still in the DLQ" in checks.check_replay(pairs, landed, 1).detail
    wrong = {**landed, "n1": {"status": "delivered", "replay_of": "zz"}}
    assert "replay_of zz, not o1" in checks.check_replay(pairs, wrong, 0).detail
    assert checks.check_restored([], ["rules"]).ok
    assert not checks.check_restored(["a.yml"], ["rules"]).ok


def test_checks_not_reached_are_not_run_and_not_ok() -> None:
    check = checks.not_run(checks.TRACES, "interrupted")
    assert (check.ok, check.checked) == (False, False)
    assert check.to_dict()["checked"] is False


# --- summary ------------------------------------------------------------------------------------


def test_summary_counts_the_demo_tenant_and_the_whole_backlog() -> None:
    counts = {
        ("ten_demo", "e1", "queued"): 2,
        ("ten_demo", "e1", "inflight"): 1,
        ("ten_demo", "e2", "failed"): 3,
        ("ten_demo", "e3", "dead"): 10,
        ("ten_other", "x", "queued"): 5,
        ("ten_other", "x", "dead"): 99,
    }
    summary = summarize(
        tenant_id="ten_demo",
        published=20,
        deliveries=60 + 4,  # 4 of them replays
        counts=counts,
        latencies=[0.1] * 98 + [2.0, 3.0],
        replayed_dead=4,
    )
    assert (summary.published, summary.waiting, summary.retrying) == (20, 3, 3)
    assert summary.dead == 6  # 10 dead rows, 4 replayed
    assert summary.delivered == 64 - 3 - 3 - 10
    assert summary.backlog == 2 + 1 + 3 + 5  # dead is not waiting
    assert summary.p99_seconds == 2.0
    assert summary.to_dict()["p99_seconds"] == 2.0


def test_percentile_and_first_success_latency() -> None:
    assert percentile([], 0.99) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    from datetime import datetime

    at = datetime.fromisoformat("2030-01-01T00:00:00+00:00")

    def record(path: str, event: str, status: int, second: int) -> dict[str, Any]:
        at = f"2030-01-01T00:00:{second:02d}+00:00"
        return {"path": path, "webhook_id": event, "status": status, "received_at": at}

    records = [
        record("/a", "e1", 500, 1),
        record("/a", "e1", 200, 3),
        record("/a", "e1", 200, 9),  # a second 2xx (a replay) does not count
        record("/b", "e1", 200, 2),
        record("/z", "e1", 200, 2),  # not a path asked for
        record("/a", "unknown", 200, 2),  # not published by the demo
    ]
    found = first_success_latencies(records, {"e1": at}, ["/a", "/b"])
    assert found == {("/a", "e1"): 3.0, ("/b", "e1"): 2.0}


# --- putting things back ------------------------------------------------------------------------


def test_files_come_back_byte_for_byte_and_new_ones_go(tmp_path: Path) -> None:
    kept = tmp_path / "alertmanager.yml"
    kept.write_bytes(b"route: {}\n")
    kept.chmod(0o600)
    absent = tmp_path / "alerting" / "receivers.yaml"
    snapshot = FileSnapshot.take([kept, absent], dirs=[tmp_path / "alerting"])
    kept.write_text("changed")
    absent.parent.mkdir()
    absent.write_text("new")
    assert set(snapshot.differences()) == {kept, absent, tmp_path / "alerting"}
    assert snapshot.restore([kept]) == [kept]  # only what was asked
    assert kept.read_bytes() == b"route: {}\n" and kept.stat().st_mode & 0o777 == 0o600
    snapshot.restore()
    assert not absent.exists() and not absent.parent.exists()
    assert snapshot.differences() == []


def test_every_undo_step_runs_last_first_even_after_a_failure() -> None:
    ran: list[str] = []
    changes = Changes()
    changes.add("stack", lambda: ran.append("stack"))
    changes.add("rules", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    changes.add("tenant", lambda: ran.append("tenant"))
    reports: list[tuple[str, str | None]] = []
    changes.undo_all(lambda name, error: reports.append((name, str(error) if error else None)))
    assert ran == ["tenant", "stack"]
    assert reports == [("tenant", None), ("rules", "boom"), ("stack", None)]
    assert changes.steps == []
