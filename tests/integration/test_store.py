"""The store on SQLite and on a real PostgreSQL: claims, idempotency, replay, reconciliation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from harborctl.domain.attempt import AttemptRecord
from harborctl.domain.models import DeliveryStatus
from harborctl.errors import Conflict, NotFound, ValidationError
from harborctl.store import Store
from harborctl.store.database import migrate

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    made = Store.open(database_url)
    migrate(made.engine)
    migrate(made.engine)  # idempotent
    try:
        yield made
    finally:
        made.dispose()


def _tenant_with_endpoints(store: Store, count: int) -> tuple[str, list[str]]:
    tenant, _key = store.admin.create_tenant("acme", T0)
    endpoint_ids = []
    for i in range(count):
        endpoint = store.admin.create_endpoint(
            tenant.id,
            url=f"http://127.0.0.1:9/{i}",
            secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            description=None,
            rate_limit_rps=None,
            max_attempts=None,
            now=T0,
        )
        store.admin.create_subscription(tenant.id, endpoint.id, "order.created", T0)
        endpoint_ids.append(endpoint.id)
    return tenant.id, endpoint_ids


def _publish(store: Store, tenant_id: str, key: str | None = None, now: datetime = T0) -> str:
    outcome = store.events.publish_event(
        tenant_id, event_type="order.created", payload=b"{}", idempotency_key=key, now=now
    )
    return outcome.event_id


def test_publish_fans_out_one_queued_delivery_per_subscribed_endpoint(store: Store) -> None:
    tenant_id, endpoint_ids = _tenant_with_endpoints(store, 3)
    outcome = store.events.publish_event(
        tenant_id, event_type="order.created", payload=b'{"a":1}', idempotency_key=None, now=T0
    )
    assert outcome.fanout_count == 3
    stored = store.events.deliveries_for_event(tenant_id, outcome.event_id)
    assert sorted(d.endpoint_id for d in stored) == sorted(endpoint_ids)
    assert {d.status for d in stored} == {DeliveryStatus.QUEUED}
    assert store.events.get_event(tenant_id, outcome.event_id).payload == b'{"a":1}'
    other = store.events.publish_event(
        tenant_id, event_type="nobody.cares", payload=b"{}", idempotency_key=None, now=T0
    )
    assert other.fanout_count == 0


def test_idempotency_key_holds_for_24_hours_then_may_be_reused(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 1)
    first = _publish(store, tenant_id, "k1")
    again = store.events.publish_event(
        tenant_id,
        event_type="order.created",
        payload=b"{}",
        idempotency_key="k1",
        now=T0 + timedelta(hours=23),
    )
    assert again.duplicate and again.event_id == first and again.fanout_count == 1
    assert len(store.events.list_deliveries(tenant_id)) == 1
    later = _publish(store, tenant_id, "k1", now=T0 + timedelta(hours=24, seconds=1))
    assert later != first
    other_tenant, _ = _tenant_with_endpoints(store, 1)
    assert _publish(store, other_tenant, "k1") != first  # keys are per tenant


def test_concurrent_publishes_of_one_key_create_one_event(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 1)
    results: list[str] = []
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            results.append(_publish(store, tenant_id, "same"))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=publish) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1
    assert len(store.events.list_deliveries(tenant_id)) == 1


def test_several_workers_never_claim_the_same_delivery(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 4)
    for _ in range(25):
        _publish(store, tenant_id)  # 100 deliveries
    claimed: dict[str, list[str]] = {}
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            batch = store.work.claim_due(name, T0 + timedelta(seconds=1), LEASE, 7)
            if not batch:
                return
            with lock:
                claimed.setdefault(name, []).extend(d.id for d in batch)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [d for ids in claimed.values() for d in ids]
    assert len(every) == 100
    assert len(set(every)) == 100, "a delivery was claimed twice"
    assert {d.status for d in store.events.list_deliveries(tenant_id, limit=1000)} == {
        DeliveryStatus.INFLIGHT
    }


def test_expired_lease_can_be_claimed_again_and_stale_result_is_refused(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 1)
    _publish(store, tenant_id)
    [first] = store.work.claim_due("w1", T0, LEASE, 10)
    assert store.work.claim_due("w2", T0 + timedelta(seconds=10), LEASE, 10) == []
    item, taken = store.work.claim_work(first.id, "w2", T0 + timedelta(seconds=10), LEASE)
    assert not taken and item is not None and item.delivery.status is DeliveryStatus.INFLIGHT
    [again] = store.work.claim_due("w2", T0 + timedelta(seconds=31), LEASE, 10)
    assert again.id == first.id
    late = AttemptRecord(
        outcome=DeliveryStatus.DELIVERED,
        attempt_no=1,
        started_at=T0,
        duration_ms=5.0,
        http_status=200,
        error=None,
        reason=None,
    )
    assert not store.work.record_attempt(first.id, "w1", late, T0 + timedelta(seconds=32))
    assert store.work.record_attempt(first.id, "w2", late, T0 + timedelta(seconds=32))
    delivery, attempts = store.events.get_delivery(tenant_id, first.id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert [a.attempt_no for a in attempts] == [1]


def test_failed_attempt_is_due_again_at_its_next_attempt_time(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 1)
    _publish(store, tenant_id)
    [claimed] = store.work.claim_due("w1", T0, LEASE, 10)
    retry_at = T0 + timedelta(seconds=4)
    store.work.record_attempt(
        claimed.id,
        "w1",
        AttemptRecord(
            outcome=DeliveryStatus.FAILED,
            attempt_no=1,
            started_at=T0,
            duration_ms=3.0,
            http_status=503,
            error="HTTP 503",
            reason="http_5xx",
            next_attempt_at=retry_at,
        ),
        T0,
    )
    assert store.work.claim_due("w1", T0 + timedelta(seconds=3), LEASE, 10) == []
    [due] = store.work.claim_due("w1", retry_at, LEASE, 10)
    assert due.attempts == 1 and due.last_http_status == 503


def test_release_puts_a_deferred_delivery_back_unattempted(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 1)
    _publish(store, tenant_id)
    [claimed] = store.work.claim_due("w1", T0, LEASE, 10)
    store.work.release(claimed.id, "w1", T0 + timedelta(seconds=5), T0)
    delivery, attempts = store.events.get_delivery(tenant_id, claimed.id)
    assert delivery.status is DeliveryStatus.QUEUED
    assert delivery.attempts == 0 and attempts == []
    assert store.work.claim_due("w1", T0 + timedelta(seconds=4), LEASE, 10) == []
    assert len(store.work.claim_due("w1", T0 + timedelta(seconds=5), LEASE, 10)) == 1


def _kill(store: Store, delivery_id: str) -> None:
    assert store.work.claim_work(delivery_id, "w", T0, LEASE)[1]
    store.work.record_attempt(
        delivery_id,
        "w",
        AttemptRecord(
            outcome=DeliveryStatus.DEAD,
            attempt_no=8,
            started_at=T0,
            duration_ms=1.0,
            http_status=500,
            error="HTTP 500",
            reason="http_5xx",
        ),
        T0,
    )


def test_replay_creates_a_new_queued_delivery_once(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 2)
    event_id = _publish(store, tenant_id)
    first, second = store.events.deliveries_for_event(tenant_id, event_id)
    with pytest.raises(Conflict):
        store.events.replay(tenant_id, first.id, T0)  # not dead
    _kill(store, first.id)
    _kill(store, second.id)
    replayed = store.events.replay(tenant_id, first.id, T0)
    assert replayed.replay_of == first.id and replayed.status is DeliveryStatus.QUEUED
    with pytest.raises(Conflict):
        store.events.replay(tenant_id, first.id, T0)
    other_tenant, _ = _tenant_with_endpoints(store, 1)
    with pytest.raises(NotFound):
        store.events.replay(other_tenant, second.id, T0)
    dry = store.events.replay_dead(tenant_id, endpoint_id=None, since=None, now=T0, dry_run=True)
    assert dry == [(None, second.id)]
    assert store.events.replay(tenant_id, second.id, T0).replay_of == second.id
    assert (
        store.events.replay_dead(tenant_id, endpoint_id=None, since=None, now=T0, dry_run=False)
        == []
    )


def test_reconciler_sees_deliveries_left_queued_past_the_deadline(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 1)
    event_id = _publish(store, tenant_id)
    [delivery] = store.events.deliveries_for_event(tenant_id, event_id)
    deadline = timedelta(seconds=60)
    assert store.work.stale_deliveries(T0 + timedelta(seconds=59), deadline, 10) == []
    [stale] = store.work.stale_deliveries(T0 + timedelta(seconds=61), deadline, 10)
    assert stale.id == delivery.id
    store.work.mark_republished([delivery.id], T0 + timedelta(seconds=61))
    assert store.work.stale_deliveries(T0 + timedelta(seconds=62), deadline, 10) == []


def test_unknown_endpoint_in_a_subscription_names_the_field(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 0)
    with pytest.raises(ValidationError) as caught:
        store.admin.create_subscription(tenant_id, "ep_missing", "order.created", T0)
    assert caught.value.field == "endpoint_id"
    assert store.admin.list_subscriptions(tenant_id) == []


def test_deleted_endpoint_gets_no_new_deliveries(store: Store) -> None:
    tenant_id, [endpoint_id, kept] = _tenant_with_endpoints(store, 2)
    store.admin.delete_endpoint(tenant_id, endpoint_id, T0)
    event_id = _publish(store, tenant_id)
    assert [d.endpoint_id for d in store.events.deliveries_for_event(tenant_id, event_id)] == [kept]
    with pytest.raises(NotFound):
        store.admin.get_endpoint(tenant_id, endpoint_id)


def test_claim_work_takes_only_due_deliveries_and_loads_the_attempt(store: Store) -> None:
    tenant_id, [endpoint_id] = _tenant_with_endpoints(store, 1)
    event_id = _publish(store, tenant_id)
    [delivery] = store.events.deliveries_for_event(tenant_id, event_id)
    item, taken = store.work.claim_work(delivery.id, "w1", T0 - timedelta(seconds=1), LEASE)
    assert not taken and item is not None  # published at T0: not due a second earlier
    assert item.delivery.status is DeliveryStatus.QUEUED
    item, taken = store.work.claim_work(delivery.id, "w1", T0, LEASE)
    assert taken and item is not None
    assert item.delivery.status is DeliveryStatus.INFLIGHT
    assert item.endpoint.id == endpoint_id and item.endpoint.secret.startswith("whsec_")
    assert item.event.payload == b"{}"
    assert store.work.claim_work("dlv_missing", "w1", T0, LEASE) == (None, False)


def test_backlog_counts_what_is_not_delivered(store: Store) -> None:
    tenant_id, [first, second] = _tenant_with_endpoints(store, 2)
    for _ in range(3):
        _publish(store, tenant_id)
    one = store.events.list_deliveries(tenant_id, endpoint_id=first, limit=1)[0]
    _kill(store, one.id)
    done = store.events.list_deliveries(tenant_id, endpoint_id=second, limit=1)[0]
    assert store.work.claim_work(done.id, "w", T0, LEASE)[1]
    store.work.record_attempt(
        done.id,
        "w",
        AttemptRecord(
            outcome=DeliveryStatus.DELIVERED,
            attempt_no=1,
            started_at=T0,
            duration_ms=2.0,
            http_status=200,
            error=None,
            reason=None,
        ),
        T0,
    )
    assert store.events.count_by_status() == {
        (tenant_id, first, "queued"): 2,
        (tenant_id, first, "dead"): 1,
        (tenant_id, second, "queued"): 2,
    }


# --- batches (group commit) ---------------------------------------------------------------


def test_publish_many_is_publish_event_for_each_in_one_transaction(store: Store) -> None:
    from harborctl.store.events import NewEvent

    tenant_id, endpoint_ids = _tenant_with_endpoints(store, 2)
    other_tenant, other_endpoints = _tenant_with_endpoints(store, 1)
    earlier = _publish(store, tenant_id, "seen")
    batch = [
        NewEvent(tenant_id, "order.created", b'{"n":1}'),
        NewEvent(other_tenant, "order.created", b'{"n":2}', "k"),
        NewEvent(tenant_id, "nobody.cares", b'{"n":3}'),
        NewEvent(tenant_id, "order.created", b'{"n":4}', "k"),  # the same key, another tenant
        NewEvent(tenant_id, "order.created", b'{"n":5}', "k"),  # a repeat within the batch
        NewEvent(tenant_id, "order.created", b'{"n":6}', "seen"),  # a key used before
        NewEvent(tenant_id, "order.created", b'{"n":7}', trace_context={"traceparent": "x"}),
    ]
    outcomes = store.events.publish_many(batch, T0)
    assert [o.fanout_count for o in outcomes] == [2, 1, 0, 2, 2, 2, 2]
    assert [o.duplicate for o in outcomes] == [False, False, False, False, True, True, False]
    assert outcomes[4].event_id == outcomes[3].event_id
    assert [d.id for d in outcomes[4].deliveries] == [d.id for d in outcomes[3].deliveries]
    assert outcomes[5].event_id == earlier
    assert outcomes[1].event_id != outcomes[3].event_id
    for outcome, new in zip(outcomes[:4], batch[:4], strict=True):
        assert store.events.get_event(new.tenant_id, outcome.event_id).payload == new.payload
    stored = store.events.deliveries_for_event(tenant_id, outcomes[0].event_id)
    assert sorted(d.endpoint_id for d in stored) == sorted(endpoint_ids)
    assert [d.endpoint_id for d in outcomes[1].deliveries] == other_endpoints
    [traced, _] = store.events.deliveries_for_event(tenant_id, outcomes[6].event_id)
    assert traced.trace_context == {"traceparent": "x"}


def test_publish_many_reuses_an_expired_key(store: Store) -> None:
    from harborctl.store.events import NewEvent

    tenant_id, _ = _tenant_with_endpoints(store, 1)
    first = _publish(store, tenant_id, "k")
    later = T0 + timedelta(hours=25)
    [again] = store.events.publish_many([NewEvent(tenant_id, "order.created", b"{}", "k")], later)
    assert not again.duplicate and again.event_id != first


def test_claim_many_takes_each_due_delivery_once(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 3)
    event_id = _publish(store, tenant_id)
    ids = [d.id for d in store.events.deliveries_for_event(tenant_id, event_id)]
    answers = store.work.claim_many([ids[0], ids[1], ids[0], "dlv_missing"], "w1", T0, LEASE)
    assert [taken for _, taken in answers] == [True, True, False, False]
    assert answers[0][0] is not None and answers[0][0].delivery.id == ids[0]
    assert answers[0][0].event.payload == b"{}"
    assert answers[3][0] is None
    # held by w1: w2 gets the items (their state) but takes none
    again = store.work.claim_many(ids, "w2", T0 + timedelta(seconds=1), LEASE)
    assert [taken for _, taken in again] == [False, False, True]
    assert store.work.load_many([ids[2], "dlv_missing"])[1] is None


def test_record_many_records_only_what_this_worker_still_holds(store: Store) -> None:
    tenant_id, _ = _tenant_with_endpoints(store, 2)
    event_id = _publish(store, tenant_id)
    mine, stolen = (d.id for d in store.events.deliveries_for_event(tenant_id, event_id))
    store.work.claim_many([mine, stolen], "w1", T0, LEASE)
    # w1's lease on `stolen` ran out and w2 took it
    assert store.work.claim_many([stolen], "w2", T0 + LEASE * 2, LEASE)[0][1]
    record = AttemptRecord(
        outcome=DeliveryStatus.DELIVERED,
        attempt_no=1,
        started_at=T0,
        duration_ms=3.0,
        http_status=200,
        error=None,
        reason=None,
    )
    kept = store.work.record_many([(mine, record), (stolen, record)], "w1", T0)
    assert kept == [True, False]
    done, attempts = store.events.get_delivery(tenant_id, mine)
    assert done.status is DeliveryStatus.DELIVERED and [a.http_status for a in attempts] == [200]
    still, none = store.events.get_delivery(tenant_id, stolen)
    assert still.status is DeliveryStatus.INFLIGHT and none == []


def test_record_many_stores_each_outcome_with_every_field(store: Store) -> None:
    """One batch holding a success, a retry and a dead delivery: each row gets its own
    next state and its attempt row, field for field (PostgreSQL records the batch in one
    statement, SQLite row by row: both must agree)."""
    tenant_id, _ = _tenant_with_endpoints(store, 3)
    event_id = _publish(store, tenant_id)
    ok, retry, dead = (d.id for d in store.events.deliveries_for_event(tenant_id, event_id))
    store.work.claim_many([ok, retry, dead], "w1", T0, LEASE)
    later = T0 + timedelta(seconds=2)
    records = [
        (ok, AttemptRecord(DeliveryStatus.DELIVERED, 1, T0, 12.5, 200, None, None)),
        (
            retry,
            AttemptRecord(
                DeliveryStatus.FAILED,
                1,
                T0,
                30.0,
                503,
                "HTTP 503",
                "http_5xx",
                next_attempt_at=T0 + timedelta(seconds=40),
                response_excerpt="busy, try later",
            ),
        ),
        (dead, AttemptRecord(DeliveryStatus.DEAD, 1, T0, 2000.0, None, "timed out", "timeout")),
    ]
    assert store.work.record_many(records, "w1", later) == [True, True, True]

    delivered, [first] = store.events.get_delivery(tenant_id, ok)
    assert (delivered.status, delivered.attempts, delivered.last_http_status) == (
        DeliveryStatus.DELIVERED,
        1,
        200,
    )
    assert delivered.delivered_at == later and delivered.updated_at == later
    assert (first.attempt_no, first.started_at, first.duration_ms, first.outcome) == (
        1,
        T0,
        12.5,
        "delivered",
    )
    assert (first.http_status, first.error, first.reason, first.response_excerpt) == (
        200,
        None,
        None,
        None,
    )

    failed, [attempt] = store.events.get_delivery(tenant_id, retry)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.next_attempt_at == T0 + timedelta(seconds=40)
    assert (failed.last_http_status, failed.last_error, failed.delivered_at) == (
        503,
        "HTTP 503",
        None,
    )
    assert (attempt.reason, attempt.response_excerpt, attempt.outcome) == (
        "http_5xx",
        "busy, try later",
        "failed",
    )

    gone, [last] = store.events.get_delivery(tenant_id, dead)
    assert (gone.status, gone.dead_reason, gone.last_http_status) == (
        DeliveryStatus.DEAD,
        "timeout",
        None,
    )
    assert (last.http_status, last.error, last.duration_ms) == (None, "timed out", 2000.0)
    # released: another worker may claim the retry when it is due
    again = store.work.claim_many([retry], "w2", T0 + timedelta(seconds=41), LEASE)
    assert again[0][1]


# --- endpoints with a lifecycle (migration 0003) ------------------------------------------

NEW_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="


def test_update_changes_only_the_fields_given_and_another_tenant_gets_not_found(
    store: Store,
) -> None:
    tenant_id, [endpoint_id] = _tenant_with_endpoints(store, 1)
    later = T0 + timedelta(minutes=5)
    before, after = store.admin.update_endpoint(
        tenant_id,
        endpoint_id,
        {"url": "https://hooks.example.com/new", "max_attempts": 3, "description": "orders"},
        later,
    )
    assert before.url == "http://127.0.0.1:9/0" and before.updated_at == T0
    assert (after.url, after.max_attempts, after.description) == (
        "https://hooks.example.com/new",
        3,
        "orders",
    )
    assert after.rate_limit_rps is None and after.enabled and after.updated_at == later
    _, cleared = store.admin.update_endpoint(tenant_id, endpoint_id, {"description": None}, later)
    assert cleared.description is None and cleared.max_attempts == 3
    other_tenant, _ = _tenant_with_endpoints(store, 0)
    with pytest.raises(NotFound):
        store.admin.update_endpoint(other_tenant, endpoint_id, {"max_attempts": 1}, later)
    with pytest.raises(ValidationError) as caught:
        store.admin.update_endpoint(tenant_id, endpoint_id, {"secret": NEW_SECRET}, later)
    assert caught.value.field == "secret"
    assert store.admin.get_endpoint(tenant_id, endpoint_id).max_attempts == 3


def test_disabling_by_hand_keeps_a_reason_and_enabling_starts_afresh(store: Store) -> None:
    from harborctl.domain.models import DisabledReason

    tenant_id, [endpoint_id] = _tenant_with_endpoints(store, 1)
    store.admin.mark_failing(endpoint_id, T0)
    gone_at = T0 + timedelta(hours=1)
    assert store.admin.disable_endpoint(endpoint_id, DisabledReason.GONE, gone_at)
    # disabling again (by hand) keeps the first reason and time
    _, still = store.admin.update_endpoint(tenant_id, endpoint_id, {"enabled": False}, gone_at)
    assert (still.enabled, still.disabled_reason, still.disabled_at) == (
        False,
        DisabledReason.GONE,
        gone_at,
    )
    enabled_at = gone_at + timedelta(hours=1)
    before, after = store.admin.update_endpoint(
        tenant_id, endpoint_id, {"enabled": True}, enabled_at
    )
    assert not before.enabled and before.failing_since == T0
    assert after.enabled and after.disabled_reason is None and after.disabled_at is None
    assert after.failing_since is None  # failing starts afresh: no instant disable again
    _, manual = store.admin.update_endpoint(tenant_id, endpoint_id, {"enabled": False}, enabled_at)
    assert (manual.disabled_reason, manual.disabled_at) == (DisabledReason.MANUAL, enabled_at)
    assert [e.enabled for e in store.admin.list_endpoints(tenant_id)] == [False]


def test_a_disabled_endpoint_gets_no_new_deliveries_on_either_publish_path(store: Store) -> None:
    from harborctl.store.events import NewEvent

    tenant_id, [disabled, kept] = _tenant_with_endpoints(store, 2)
    store.admin.update_endpoint(tenant_id, disabled, {"enabled": False}, T0)
    event_id = _publish(store, tenant_id)
    assert [d.endpoint_id for d in store.events.deliveries_for_event(tenant_id, event_id)] == [kept]
    [outcome] = store.events.publish_many([NewEvent(tenant_id, "order.created", b"{}")], T0)
    assert [d.endpoint_id for d in outcome.deliveries] == [kept]
    store.admin.update_endpoint(tenant_id, disabled, {"enabled": True}, T0)
    again = _publish(store, tenant_id)
    assert len(store.events.deliveries_for_event(tenant_id, again)) == 2


def test_the_worker_loads_the_endpoints_state_with_the_delivery(store: Store) -> None:
    from harborctl.domain.models import DisabledReason

    tenant_id, [endpoint_id] = _tenant_with_endpoints(store, 1)
    event_id = _publish(store, tenant_id)
    [delivery] = store.events.deliveries_for_event(tenant_id, event_id)
    store.admin.mark_failing(endpoint_id, T0)
    assert store.admin.disable_endpoint(endpoint_id, DisabledReason.GONE, T0)
    item, taken = store.work.claim_work(delivery.id, "w1", T0, LEASE)
    assert taken and item is not None
    assert not item.endpoint.enabled and item.endpoint.disabled_reason is DisabledReason.GONE
    [loaded] = store.work.load_many([delivery.id])
    assert loaded is not None and loaded.endpoint.failing_since == T0


def test_failing_since_is_the_first_failure_after_the_last_success(store: Store) -> None:
    _, [endpoint_id] = _tenant_with_endpoints(store, 1)
    tenant_id = store.admin.list_tenants()[-1].id

    def failing_since() -> datetime | None:
        return store.admin.get_endpoint(tenant_id, endpoint_id).failing_since

    store.admin.mark_failing(endpoint_id, T0)
    store.admin.mark_failing(endpoint_id, T0 + timedelta(hours=1))  # not the first any more
    assert failing_since() == T0
    store.admin.mark_recovered(endpoint_id)
    assert failing_since() is None
    store.admin.mark_failing(endpoint_id, T0 + timedelta(hours=2))
    assert failing_since() == T0 + timedelta(hours=2)


def test_disabling_for_failing_happens_once_and_not_after_a_recovery(store: Store) -> None:
    from harborctl.domain.models import DisabledReason

    tenant_id, [endpoint_id, other] = _tenant_with_endpoints(store, 2)
    period = timedelta(days=5)
    now = T0 + period
    store.admin.mark_failing(endpoint_id, T0)
    store.admin.mark_failing(other, T0)
    store.admin.mark_recovered(other)  # another worker saw a success meanwhile
    assert not store.admin.disable_endpoint(other, DisabledReason.FAILING, now, now - period)
    assert store.admin.disable_endpoint(endpoint_id, DisabledReason.FAILING, now, now - period)
    assert not store.admin.disable_endpoint(endpoint_id, DisabledReason.GONE, now)  # already
    shown = store.admin.get_endpoint(tenant_id, endpoint_id)
    assert (shown.enabled, shown.disabled_reason, shown.disabled_at, shown.updated_at) == (
        False,
        DisabledReason.FAILING,
        now,
        now,
    )
    assert store.admin.get_endpoint(tenant_id, other).enabled


def test_rotation_keeps_the_old_secret_for_the_overlap_then_it_is_erased(store: Store) -> None:
    tenant_id, [endpoint_id] = _tenant_with_endpoints(store, 1)
    old = store.admin.get_endpoint(tenant_id, endpoint_id).secret
    rotated = store.admin.rotate_secret(tenant_id, endpoint_id, NEW_SECRET, timedelta(hours=24), T0)
    assert (rotated.secret, rotated.previous_secret) == (NEW_SECRET, old)
    assert rotated.previous_secret_until == T0 + timedelta(hours=24)
    assert rotated.updated_at == T0
    store.admin.drop_previous_secret(endpoint_id, T0 + timedelta(hours=23))  # not yet
    assert store.admin.get_endpoint(tenant_id, endpoint_id).previous_secret == old
    store.admin.drop_previous_secret(endpoint_id, T0 + timedelta(hours=24))
    dropped = store.admin.get_endpoint(tenant_id, endpoint_id)
    assert (dropped.secret, dropped.previous_secret, dropped.previous_secret_until) == (
        NEW_SECRET,
        None,
        None,
    )
    third = "whsec_" + "WllZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVlZWVk="
    twice = store.admin.rotate_secret(tenant_id, endpoint_id, third, timedelta(hours=1), T0)
    again = store.admin.rotate_secret(tenant_id, endpoint_id, old, timedelta(hours=1), T0)
    assert twice.previous_secret == NEW_SECRET
    assert (again.secret, again.previous_secret) == (old, third)  # at most two secrets sign
    at_once = store.admin.rotate_secret(tenant_id, endpoint_id, NEW_SECRET, timedelta(0), T0)
    assert (at_once.previous_secret, at_once.previous_secret_until) == (None, None)
    with pytest.raises(NotFound):
        store.admin.rotate_secret(
            _tenant_with_endpoints(store, 0)[0], endpoint_id, old, timedelta(0), T0
        )


def test_replay_waits_for_a_disabled_endpoint_to_be_enabled(store: Store) -> None:
    tenant_id, [endpoint_id] = _tenant_with_endpoints(store, 1)
    event_id = _publish(store, tenant_id)
    [delivery] = store.events.deliveries_for_event(tenant_id, event_id)
    _kill(store, delivery.id)
    store.admin.update_endpoint(tenant_id, endpoint_id, {"enabled": False}, T0)
    with pytest.raises(Conflict, match="is disabled \\(manual\\); enable it first"):
        store.events.replay(tenant_id, delivery.id, T0)
    for dry_run in (True, False):
        with pytest.raises(Conflict, match="is disabled \\(manual\\): enable it first"):
            store.events.replay_dead(
                tenant_id, endpoint_id=endpoint_id, since=None, now=T0, dry_run=dry_run
            )
        # the whole DLQ: that endpoint's deliveries are left there, not named by a dry run
        whole = store.events.replay_dead(
            tenant_id, endpoint_id=None, since=None, now=T0, dry_run=dry_run
        )
        assert whole == []
    store.admin.update_endpoint(tenant_id, endpoint_id, {"enabled": True}, T0)
    [(new_id, old_id)] = store.events.replay_dead(
        tenant_id, endpoint_id=endpoint_id, since=None, now=T0, dry_run=False
    )
    assert old_id == delivery.id and new_id is not None


def test_migration_0003_keeps_existing_endpoints_enabled(database_url: str) -> None:
    """A database at 0002 with an endpoint in it: after 0003 the endpoint is enabled, has
    never failed, and was last changed when it was created."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from harborctl.store.database import MIGRATIONS_DIR

    made = Store.open(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        with made.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0002")
        with made.engine.begin() as conn:
            conn.execute(
                text("INSERT INTO tenants (id, name, created_at) VALUES ('ten_1', 'a', :t)"),
                {"t": T0.replace(tzinfo=None)},
            )
            conn.execute(
                text(
                    "INSERT INTO endpoints (id, tenant_id, url, secret, created_at) "
                    "VALUES ('ep_1', 'ten_1', 'http://x/', 'whsec_eA==', :t)"
                ),
                {"t": T0.replace(tzinfo=None)},
            )
        migrate(made.engine)
        endpoint = made.admin.get_endpoint("ten_1", "ep_1")
    finally:
        made.dispose()
    assert endpoint.enabled and endpoint.disabled_reason is None
    assert endpoint.failing_since is None and endpoint.previous_secret is None
    assert endpoint.updated_at == endpoint.created_at == T0
