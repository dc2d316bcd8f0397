"""The core pipeline end to end, against real processes and real services.

Runs twice: SQLite + the `db` transport, and PostgreSQL + real nsqd/nsqlookupd.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from harborctl.domain.signing import verify
from tests.support.pipeline import (
    RECEIVER_SECRET,
    Pipeline,
    Tenant,
    pipeline_env_for_nsq,
    received,
)
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


def test_publish_is_delivered_with_a_valid_signature(pipeline: Pipeline, receiver: str) -> None:
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/a/ok")
    payload = {"order": 42, "items": ["x", "y"], "note": "grüße"}
    published = tenant.publish(payload)
    assert published["fanout_count"] == 1

    [done] = tenant.wait_for_status(published["event_id"], "delivered")
    assert done["attempts"] == 1
    assert done["http_status"] == 200
    [got] = received(receiver, "/a/ok")
    assert got["signature_valid"] is True
    assert json.loads(str(got["body"])) == payload
    headers = got["headers"]
    assert isinstance(headers, dict)
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == published["event_id"]
    verify(RECEIVER_SECRET, headers, str(got["body"]).encode(), int(headers["webhook-timestamp"]))


def test_the_payload_is_delivered_byte_for_byte(pipeline: Pipeline, receiver: str) -> None:
    """Numbers, key order, spacing and escapes reach the receiver exactly as published: the
    payload is never parsed and serialised again (it used to arrive as 10.1,
    1.2345678901234567e+19 and 9007199254740992.0)."""
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/exact/ok")
    payload = (
        b'{"amount":10.10, "big":12345678901234567890.12,"id":9007199254740993.0,'
        b'"z":{"b":1,"a":2},"s":"caf\\u00e9 \xc3\xa9 \\ud83d\\ude00","e":1E+2}'
    )
    with tenant.api() as api:
        answer = api.post(
            f"/v1/tenants/{tenant.id}/events:publish",
            content=b'{"event_type": "order.created", "payload": ' + payload + b"}",
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 202, answer.text
    tenant.wait_for_status(answer.json()["event_id"], "delivered")
    [got] = received(receiver, "/exact/ok")
    assert str(got["body"]).encode() == payload
    assert got["signature_valid"] is True


def test_flaky_endpoint_is_retried_then_delivered(pipeline: Pipeline, receiver: str) -> None:
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/flaky/fail/2")
    published = tenant.publish({"n": 1})

    [done] = tenant.wait_for_status(published["event_id"], "delivered")
    assert done["attempts"] == 3
    history = tenant.delivery(done["delivery_id"])["attempts"]
    assert [a["outcome"] for a in history] == ["failed", "failed", "delivered"]
    assert [a["http_status"] for a in history] == [500, 500, 200]
    assert [a["reason"] for a in history] == ["http_5xx", "http_5xx", None]
    assert len(received(receiver, "/flaky/fail/2")) == 3


def test_dead_endpoint_goes_to_dlq_and_replay_delivers(pipeline: Pipeline, receiver: str) -> None:
    tenant = pipeline.tenant()
    # fails 3 times, then recovers; with max_attempts=3 the first delivery dies
    endpoint_id = tenant.endpoint(f"{receiver}/dead/fail/3", max_attempts=3)
    published = tenant.publish({"n": 2})

    [dead] = tenant.wait_for_status(published["event_id"], "dead")
    assert dead["attempts"] == 3
    assert dead["http_status"] == 500
    assert dead["error_reason"] == "http_5xx"
    with tenant.api() as api:
        dlq = api.get(f"/v1/tenants/{tenant.id}/dlq", params={"endpoint_id": endpoint_id})
        assert [d["delivery_id"] for d in dlq.json()["deliveries"]] == [dead["delivery_id"]]
        dry = api.post(f"/v1/tenants/{tenant.id}/dlq:replay", json={"dry_run": True}).json()
        assert dry == {
            "dry_run": True,
            "replayed": 0,
            "deliveries": [{"delivery_id": None, "replay_of": dead["delivery_id"]}],
        }
        replay = api.post(f"/v1/tenants/{tenant.id}/deliveries/{dead['delivery_id']}:replay")
        assert replay.status_code == 202, replay.text
        again = api.post(f"/v1/tenants/{tenant.id}/deliveries/{dead['delivery_id']}:replay")
        assert again.status_code == 409

    delivered = tenant.wait_for_status(published["event_id"], "delivered")
    assert delivered[0]["replay_of"] == dead["delivery_id"]
    assert delivered[0]["delivery_id"] == replay.json()["delivery_id"]
    with tenant.api() as api:
        assert api.get(f"/v1/tenants/{tenant.id}/dlq").json()["deliveries"] == []


def test_an_endpoint_breaker_threshold_of_its_own_opens_its_breaker(
    pipeline: Pipeline, receiver: str
) -> None:
    """The worker's threshold is 50 (FAST_SETTINGS); this endpoint's own is 2: after two
    failures its breaker opens and the next deliveries wait instead of being attempted."""
    tenant = pipeline.tenant()
    endpoint_id = tenant.endpoint(
        f"{receiver}/brk/status/500", max_attempts=1, breaker_failure_threshold=2
    )
    with tenant.api() as api:
        shown = api.get(f"/v1/tenants/{tenant.id}/endpoints/{endpoint_id}").json()["endpoint"]
    assert shown["breaker_failure_threshold"] == 2
    events = [tenant.publish({"n": n})["event_id"] for n in range(4)]
    metrics_url: str = pipeline.workers[0].metrics_url  # type: ignore[attr-defined]
    held_back = f'harborhook_retries_total{{endpoint_id="{endpoint_id}",reason="circuit_open"}}'

    def statuses() -> list[str] | None:
        found = [d["status"] for e in events for d in tenant.deliveries(e)]
        deferred = any(
            line.startswith(held_back) for line in httpx.get(metrics_url).text.splitlines()
        )
        return found if found.count("dead") == 2 and deferred else None

    final = wait_until(statuses, 30, interval=0.2, describe="two dead, the rest held back")
    assert sorted(final).count("dead") == 2
    assert len(received(receiver, "/brk/status/500")) == 2  # the others were never sent


def test_same_idempotency_key_returns_the_same_event(pipeline: Pipeline, receiver: str) -> None:
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/idem/ok")
    first = tenant.publish({"n": 3}, idempotency_key="order-3")
    second = tenant.publish({"n": 3}, idempotency_key="order-3")
    assert second["event_id"] == first["event_id"]
    assert second["duplicate"] is True
    tenant.wait_for_status(first["event_id"], "delivered")
    assert len(tenant.deliveries(first["event_id"])) == 1
    with tenant.api() as api:
        listed = api.get(f"/v1/tenants/{tenant.id}/deliveries").json()["deliveries"]
    assert len(listed) == 1
    assert len(received(receiver, "/idem/ok")) == 1


def test_another_tenants_ids_answer_404(pipeline: Pipeline, receiver: str) -> None:
    owner = pipeline.tenant("owner")
    intruder = pipeline.tenant("intruder")
    endpoint_id = owner.endpoint(f"{receiver}/iso/ok")
    event_id = owner.publish({"secret": True})["event_id"]
    delivery_id = owner.wait_for_status(event_id, "delivered")[0]["delivery_id"]
    with intruder.api() as api:
        for path in (
            f"/v1/tenants/{owner.id}/endpoints",
            f"/v1/tenants/{owner.id}/endpoints/{endpoint_id}",
            f"/v1/tenants/{owner.id}/events/{event_id}/deliveries",
            f"/v1/tenants/{owner.id}/deliveries/{delivery_id}",
            f"/v1/tenants/{intruder.id}/endpoints/{endpoint_id}",
            f"/v1/tenants/{intruder.id}/events/{event_id}/deliveries",
            f"/v1/tenants/{intruder.id}/deliveries/{delivery_id}",
        ):
            answer = api.get(path)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"]["code"] == "not_found"
        deleted = api.delete(f"/v1/tenants/{intruder.id}/endpoints/{endpoint_id}")
        assert deleted.status_code == 404
        sub = api.post(
            f"/v1/tenants/{intruder.id}/subscriptions",
            json={"endpoint_id": endpoint_id, "event_type": "order.created"},
        )
        assert sub.status_code == 422
        assert sub.json()["error"]["field"] == "endpoint_id"
    with owner.api() as api:
        assert api.get(f"/v1/tenants/{owner.id}/endpoints/{endpoint_id}").status_code == 200


def _counts(tenant: Tenant) -> tuple[int, int, int]:
    with tenant.api() as api:
        endpoints = api.get(f"/v1/tenants/{tenant.id}/endpoints").json()["endpoints"]
        subs = api.get(f"/v1/tenants/{tenant.id}/subscriptions").json()["subscriptions"]
        deliveries = api.get(f"/v1/tenants/{tenant.id}/deliveries").json()["deliveries"]
    return len(endpoints), len(subs), len(deliveries)


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("endpoints", {"url": "ftp://example.test/hook"}, 422, "url"),
        ("endpoints", {"url": "not a url"}, 422, "url"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "secret": "whsec_!!"}, 422, "secret"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "max_attempts": 0}, 422, "max_attempts"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "rate_limit_rps": -1}, 422, "rate_limit_rps"),
        (
            "endpoints",
            {"url": "http://127.0.0.1:1/x", "breaker_failure_threshold": 0},
            422,
            "breaker_failure_threshold",
        ),
        ("subscriptions", {"endpoint_id": "ep_missing", "event_type": "a"}, 422, "endpoint_id"),
        ("subscriptions", {"endpoint_id": "ep_x", "event_type": ""}, 422, "event_type"),
        ("events:publish", b"{not json", 400, "body"),
        ("events:publish", b'{"event_type":"a","payload":{"s":"\\ud800"}}', 400, "payload"),
        (
            "events:publish",
            b'{"event_type":"a","payload":{"x":NaN,"y":1e400,"z":-Infinity}}',
            400,
            "payload",
        ),
        ("events:publish", b'{"event_type":"a","payload":{"y":1e400}}', 400, "payload"),
        ("events:publish", b'{"event_type":"a","payload":{"dup":{"k":1,"k":2}}}', 400, "payload"),
        (
            "events:publish",
            b'{"event_type":"a","payload":' + b"[" * 200 + b"]" * 200 + b"}",
            400,
            "payload",
        ),
        ("events:publish", b'{"event_type":"a","payload":"\xff"}', 400, "body"),
        ("events:publish", b'{"event_type":"a","payload":{}} {}', 400, "body"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "secret": "whsec_AQ=="}, 422, "secret"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "secret": "AA=="}, 422, "secret"),
        ("endpoints", {"url": "http://169.254.169.254/latest/meta-data"}, 422, "url"),
        ("endpoints", {"url": "http://10.0.0.7/hook"}, 422, "url"),
        ("endpoints", {"url": "http://127.0.0.2/hook"}, 422, "url"),
        ("endpoints", {"url": "http://[::1]:8080/hook"}, 422, "url"),
        ("endpoints", {"url": "http://[::ffff:169.254.169.254]/"}, 422, "url"),
        ("endpoints", {"url": "http://[64:ff9b::a9fe:a9fe]/"}, 422, "url"),
        ("endpoints", {"url": "http://100.64.0.1/"}, 422, "url"),
        ("endpoints", {"url": "http://2130706433/"}, 422, "url"),
        ("endpoints", {"url": "http://0x7f.0.0.1/"}, 422, "url"),
        ("endpoints", {"url": "http://0177.0.0.1/"}, 422, "url"),
        ("endpoints", {"url": "http://0/"}, 422, "url"),
        ("events:publish", {"event_type": "order.created"}, 422, "payload"),
        ("events:publish", {"payload": {}}, 422, "event_type"),
        ("events:publish", {"event_type": "a b", "payload": {}}, 422, "event_type"),
        ("events:publish", {"event_type": "a", "payload": "x" * (1024 * 1024 + 1)}, 413, "payload"),
        ("events:publish", {"event_type": "a", "payload": {}, "extra": 1}, 422, "extra"),
    ],
)
def test_bad_input_answers_4xx_naming_the_field_and_stores_nothing(
    shared_pipeline: Pipeline,
    receiver: str,
    path: str,
    body: object,
    status: int,
    field: str,
) -> None:
    tenant = shared_pipeline.tenant()
    tenant.endpoint(f"{receiver}/bad/ok", event_type="a")
    before = _counts(tenant)
    with tenant.api() as api:
        url = f"/v1/tenants/{tenant.id}/{path}"
        if isinstance(body, bytes):
            answer = api.post(url, content=body, headers={"Content-Type": "application/json"})
        else:
            answer = api.post(url, json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["field"] == field
    assert error["message"]
    assert _counts(tenant) == before


def test_worker_killed_mid_delivery_is_delivered_anyway(pipeline: Pipeline, receiver: str) -> None:
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/kill/slow/1.5")
    published = tenant.publish({"n": 4})
    wait_until(
        lambda: received(receiver, "/kill/slow/1.5"), 20, describe="the first attempt to arrive"
    )
    pipeline.workers[0].kill()
    pipeline.start_worker()

    [done] = tenant.wait_for_status(published["event_id"], "delivered", timeout=60)
    assert done["attempts"] >= 1
    assert len(received(receiver, "/kill/slow/1.5")) >= 2  # at-least-once: sent again


def test_sigterm_drains_in_flight_deliveries(pipeline: Pipeline, receiver: str) -> None:
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/drain/slow/1")
    events = [tenant.publish({"n": i})["event_id"] for i in range(3)]
    wait_until(lambda: received(receiver, "/drain/slow/1"), 20, describe="a delivery to start")
    pipeline.workers[0].stop()  # SIGTERM: finishes what it holds
    assert pipeline.workers[0].returncode == 0, pipeline.logs()
    pipeline.start_worker()
    for event_id in events:
        tenant.wait_for_status(event_id, "delivered", timeout=60)
    for event_id in events:
        [d] = tenant.deliveries(event_id)
        history = tenant.delivery(d["delivery_id"])["attempts"]
        assert [a["outcome"] for a in history][-1] == "delivered"


@pytest.mark.nsq
def test_message_lost_while_nsqd_is_down_is_reconciled(
    nsqd: object, postgres_url: str, tmp_path: Path, receiver: str
) -> None:
    """nsqd stopped after commit and before publish: the reconciler delivers it."""
    from tests.support.services import Nsqd

    assert isinstance(nsqd, Nsqd)
    pipeline = Pipeline(
        tmp_path,
        postgres_url,
        "nsq",
        pipeline_env_for_nsq(nsqd.tcp_address, nsqd.lookupd.http_address),
    )
    try:
        pipeline.start_ingest()
        pipeline.start_worker()
        tenant = pipeline.tenant()
        tenant.endpoint(f"{receiver}/lost/ok")
        nsqd.stop()
        try:
            published = tenant.publish({"n": 5})  # committed; the publish to nsqd fails
            assert tenant.deliveries(published["event_id"])[0]["status"] == "queued"
        finally:
            nsqd.start()
        tenant.wait_for_status(published["event_id"], "delivered", timeout=60)
        assert len(received(receiver, "/lost/ok")) == 1
    finally:
        pipeline.stop()
