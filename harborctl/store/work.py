"""The work protocol: how deliveries are claimed, attempted, recorded and handed back.

Shared by the transports (the `db` transport claims due rows), the delivery service
(claim one, load it, record its attempt or release it) and the reconciler (find stale
deliveries, restart their clock). A claim is a lease: ``claimed_by`` a worker until
``claimed_until``; a result is recorded only by the worker that still holds the claim.

Every public method is one transaction; times are passed in (UTC-aware). The hot path's
statements are built once with bind parameters, so each delivery pays for executing them,
not for building and compiling expressions (measured: the claim went from about 4 ms to
under 1 ms on SQLite); their parameters are built by one function each, so several
deliveries can later share one statement.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    and_,
    any_,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from harborctl.domain.attempt import AttemptRecord
from harborctl.domain.models import Delivery, DeliveryStatus, Endpoint, Event
from harborctl.store.database import Database
from harborctl.store.rows import RETRYABLE, delivery_from_row, endpoint_from_row, event_from_row
from harborctl.store.schema import UTCDateTime, deliveries, delivery_attempts, endpoints, events


@dataclass(frozen=True, slots=True)
class WorkItem:
    """Everything a worker needs to attempt one delivery."""

    delivery: Delivery
    endpoint: Endpoint
    endpoint_deleted: bool
    event: Event


def _claimable_at(now: Any) -> Any:
    """Not final, and no other worker holds a live lease."""
    return or_(
        deliveries.c.status == DeliveryStatus.QUEUED.value,
        deliveries.c.status == DeliveryStatus.FAILED.value,
        and_(
            deliveries.c.status == DeliveryStatus.INFLIGHT.value,
            deliveries.c.claimed_until < now,
        ),
    )


def _claim(which: Any) -> Any:
    """Take the deliveries ``which`` selects for one attempt: claimable (``_claimable_at``)
    and due by ``b_due_by``, or in flight under a lapsed lease."""
    return (
        update(deliveries)
        .where(
            which,
            _claimable_at(bindparam("b_now", type_=UTCDateTime())),
            or_(
                deliveries.c.status == DeliveryStatus.INFLIGHT.value,
                deliveries.c.next_attempt_at <= bindparam("b_due_by", type_=UTCDateTime()),
            ),
        )
        .values(
            status=DeliveryStatus.INFLIGHT.value,
            claimed_by=bindparam("b_worker"),
            claimed_until=bindparam("b_until"),
            updated_at=bindparam("b_now"),
        )
    )


_CLAIM_WORK = _claim(deliveries.c.id == bindparam("b_id"))


def _id_in_batch(postgres: bool) -> Any:
    """``deliveries.id`` is one of the list ``b_ids``. On PostgreSQL ``= ANY(array)``: one
    statement text whatever the batch size, so it is prepared once (an expanding ``IN``
    renders and plans a new text per list length); SQLite has no arrays."""
    if postgres:
        return deliveries.c.id == any_(bindparam("b_ids", type_=ARRAY(deliveries.c.id.type)))
    return deliveries.c.id.in_(bindparam("b_ids", expanding=True))


def _claim_many(postgres: bool) -> Any:
    """The claim for a batch of deliveries (one statement per worker batch)."""
    return _claim(_id_in_batch(postgres)).returning(deliveries.c.id)


def _load_work_many(postgres: bool) -> Any:
    """A batch's work items in one round trip: each delivery with its endpoint and event,
    the three tables' columns side by side in table order (they share column names:
    ``_load_many`` reads them by position)."""
    return (
        select(*deliveries.c, *endpoints.c, *events.c)
        .select_from(
            deliveries.join(endpoints, endpoints.c.id == deliveries.c.endpoint_id).join(
                events, events.c.id == deliveries.c.event_id
            )
        )
        .where(_id_in_batch(postgres))
    )


# by ``Database.is_postgres``
_CLAIM_MANY = {postgres: _claim_many(postgres) for postgres in (False, True)}
_LOAD_WORK_MANY = {postgres: _load_work_many(postgres) for postgres in (False, True)}
_HELD_BY = select(deliveries.c.id).where(
    deliveries.c.id.in_(bindparam("b_ids", expanding=True)),
    deliveries.c.claimed_by == bindparam("b_worker"),
)
_LOAD_DELIVERY = select(deliveries).where(deliveries.c.id == bindparam("b_id"))
_LOAD_ENDPOINT = select(endpoints).where(endpoints.c.id == bindparam("b_id"))
_LOAD_EVENT = select(events).where(events.c.id == bindparam("b_id"))
_RECORD_ATTEMPT = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"), deliveries.c.claimed_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        attempts=bindparam("b_attempts"),
        last_http_status=bindparam("b_http_status"),
        last_error=bindparam("b_error"),
        claimed_by=None,
        claimed_until=None,
        updated_at=bindparam("b_now"),
        # each outcome sets its own column; the others keep their value
        delivered_at=func.coalesce(
            bindparam("b_delivered_at", type_=UTCDateTime()), deliveries.c.delivered_at
        ),
        next_attempt_at=func.coalesce(
            bindparam("b_next_attempt_at", type_=UTCDateTime()), deliveries.c.next_attempt_at
        ),
        dead_reason=func.coalesce(bindparam("b_dead_reason"), deliveries.c.dead_reason),
    )
)
_INSERT_ATTEMPT = insert(delivery_attempts)

# PostgreSQL: a batch of results in one statement, whatever its size. The rows travel as
# one array per column (psycopg adapts a list to an array; unnest turns the arrays back
# into rows, PostgreSQL docs §9.19 "Array Functions"), so the statement text is fixed and
# is prepared once. The UPDATE takes only the deliveries this worker still holds (its
# WHERE is re-checked on the locked row, §13.2.1), and only their attempts are inserted.
# Replaces, per batch of n: a SELECT ... FOR UPDATE, n UPDATEs and n INSERTs.
_RECORD_MANY_POSTGRES = text(
    """
    WITH result AS (
        SELECT * FROM unnest(
            CAST(:ids AS varchar[]), CAST(:statuses AS varchar[]), CAST(:attempts AS integer[]),
            CAST(:http_statuses AS integer[]), CAST(:errors AS text[]),
            CAST(:delivered_at AS timestamptz[]), CAST(:next_attempt_at AS timestamptz[]),
            CAST(:dead_reasons AS varchar[])
        ) AS r(id, status, attempts, http_status, error, delivered_at, next_attempt_at,
               dead_reason)
    ), recorded AS (
        UPDATE deliveries AS d SET
            status = result.status,
            attempts = result.attempts,
            last_http_status = result.http_status,
            last_error = result.error,
            claimed_by = NULL,
            claimed_until = NULL,
            updated_at = :now,
            delivered_at = coalesce(result.delivered_at, d.delivered_at),
            next_attempt_at = coalesce(result.next_attempt_at, d.next_attempt_at),
            dead_reason = coalesce(result.dead_reason, d.dead_reason)
        FROM result
        WHERE d.id = result.id AND d.claimed_by = :worker
        RETURNING d.id
    )
    INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at, duration_ms,
                                   http_status, error, reason, outcome, response_excerpt)
    SELECT a.* FROM unnest(
        CAST(:ids AS varchar[]), CAST(:attempts AS integer[]),
        CAST(:started_at AS timestamptz[]), CAST(:durations_ms AS double precision[]),
        CAST(:http_statuses AS integer[]), CAST(:errors AS text[]),
        CAST(:reasons AS varchar[]), CAST(:statuses AS varchar[]),
        CAST(:excerpts AS text[])
    ) AS a(delivery_id, attempt_no, started_at, duration_ms, http_status, error, reason,
           outcome, response_excerpt)
    WHERE a.delivery_id IN (SELECT id FROM recorded)
    RETURNING delivery_id
    """
)


def _claim_params(
    delivery_id: str, worker_id: str, now: datetime, lease: timedelta, due_by: datetime | None
) -> dict[str, Any]:
    return {
        "b_id": delivery_id,
        "b_now": now,
        "b_due_by": due_by or now,
        "b_worker": worker_id,
        "b_until": now + lease,
    }


def _record_params(
    delivery_id: str, worker_id: str, record: AttemptRecord, now: datetime
) -> dict[str, Any]:
    """``_RECORD_ATTEMPT``'s parameters: the delivery's next state from the record."""
    outcome = record.outcome
    if outcome is DeliveryStatus.FAILED:
        assert record.next_attempt_at is not None, "a retry needs its time"
    return {
        "b_id": delivery_id,
        "b_worker": worker_id,
        "b_status": outcome.value,
        "b_attempts": record.attempt_no,
        "b_http_status": record.http_status,
        "b_error": record.error,
        "b_now": now,
        "b_delivered_at": now if outcome is DeliveryStatus.DELIVERED else None,
        "b_next_attempt_at": record.next_attempt_at if outcome is DeliveryStatus.FAILED else None,
        "b_dead_reason": record.reason if outcome is DeliveryStatus.DEAD else None,
    }


def _attempt_row(delivery_id: str, record: AttemptRecord) -> dict[str, Any]:
    """The ``delivery_attempts`` row of one attempt."""
    return {
        "delivery_id": delivery_id,
        "attempt_no": record.attempt_no,
        "started_at": record.started_at,
        "duration_ms": record.duration_ms,
        "http_status": record.http_status,
        "error": record.error,
        "reason": record.reason,
        "outcome": record.outcome.value,
        "response_excerpt": record.response_excerpt,
    }


def _record_many_postgres_params(
    records: Sequence[tuple[str, AttemptRecord]], worker_id: str, now: datetime
) -> dict[str, Any]:
    """``_RECORD_MANY_POSTGRES``'s parameters: one list per column, a row per record (the
    same values as ``_record_params`` and ``_attempt_row``)."""
    updates = [_record_params(delivery_id, worker_id, r, now) for delivery_id, r in records]
    attempts = [_attempt_row(delivery_id, r) for delivery_id, r in records]
    return {
        "worker": worker_id,
        "now": now,
        "ids": [u["b_id"] for u in updates],
        "statuses": [u["b_status"] for u in updates],
        "attempts": [u["b_attempts"] for u in updates],
        "http_statuses": [u["b_http_status"] for u in updates],
        "errors": [u["b_error"] for u in updates],
        "delivered_at": [u["b_delivered_at"] for u in updates],
        "next_attempt_at": [u["b_next_attempt_at"] for u in updates],
        "dead_reasons": [u["b_dead_reason"] for u in updates],
        "started_at": [a["started_at"] for a in attempts],
        "durations_ms": [float(a["duration_ms"]) for a in attempts],
        "reasons": [a["reason"] for a in attempts],
        "excerpts": [a["response_excerpt"] for a in attempts],
    }


def _load_work(conn: Connection, delivery_id: str) -> WorkItem | None:
    row = conn.execute(_LOAD_DELIVERY, {"b_id": delivery_id}).first()
    if row is None:
        return None
    ep = conn.execute(_LOAD_ENDPOINT, {"b_id": row.endpoint_id}).one()
    ev = conn.execute(_LOAD_EVENT, {"b_id": row.event_id}).one()
    return WorkItem(
        delivery_from_row(row), endpoint_from_row(ep), ep.deleted_at is not None, event_from_row(ev)
    )


# each table's slice of a joined row, as a named tuple the ``*_from_row`` functions read
_DeliveryRow = namedtuple("_DeliveryRow", deliveries.c.keys())  # type: ignore[misc]
_EndpointRow = namedtuple("_EndpointRow", endpoints.c.keys())  # type: ignore[misc]
_EventRow = namedtuple("_EventRow", events.c.keys())  # type: ignore[misc]
_ENDPOINT_AT = len(deliveries.c)
_EVENT_AT = _ENDPOINT_AT + len(endpoints.c)


def _load_many(
    conn: Connection, delivery_ids: Sequence[str], postgres: bool
) -> dict[str, WorkItem]:
    """The work items of the deliveries that exist, by id: one statement for the batch."""
    items = {}
    for row in conn.execute(_LOAD_WORK_MANY[postgres], {"b_ids": list(set(delivery_ids))}):
        delivery = delivery_from_row(_DeliveryRow._make(row[:_ENDPOINT_AT]))
        endpoint: Any = _EndpointRow._make(row[_ENDPOINT_AT:_EVENT_AT])
        items[delivery.id] = WorkItem(
            delivery,
            endpoint_from_row(endpoint),
            endpoint.deleted_at is not None,
            event_from_row(_EventRow._make(row[_EVENT_AT:])),
        )
    return items


class WorkRepository:
    def __init__(self, database: Database) -> None:
        self.db = database

    # batches: one transaction for a worker's concurrent deliveries ----------------------

    def claim_many(
        self,
        delivery_ids: Sequence[str],
        worker_id: str,
        now: datetime,
        lease: timedelta,
        due_by: datetime | None = None,
    ) -> list[tuple[WorkItem | None, bool]]:
        """:meth:`claim_work` for many deliveries in one transaction; one answer per id, in
        order. An id given twice is taken at most once (its first occurrence)."""
        if not delivery_ids:
            return []
        params = {
            "b_ids": list(set(delivery_ids)),
            "b_now": now,
            "b_due_by": due_by or now,
            "b_worker": worker_id,
            "b_until": now + lease,
        }
        with self.db.write() as conn:
            taken = set(conn.execute(_CLAIM_MANY[self.db.is_postgres], params).scalars())
            items = _load_many(conn, delivery_ids, self.db.is_postgres)
        answers: list[tuple[WorkItem | None, bool]] = []
        for delivery_id in delivery_ids:
            answers.append((items.get(delivery_id), delivery_id in taken))
            taken.discard(delivery_id)
        return answers

    def load_many(self, delivery_ids: Sequence[str]) -> list[WorkItem | None]:
        """:meth:`load_work` for many deliveries; one answer per id, in order."""
        if not delivery_ids:
            return []
        with self.db.read() as conn:
            items = _load_many(conn, delivery_ids, self.db.is_postgres)
        return [items.get(delivery_id) for delivery_id in delivery_ids]

    def record_many(
        self, records: Sequence[tuple[str, AttemptRecord]], worker_id: str, now: datetime
    ) -> list[bool]:
        """:meth:`record_attempt` for many deliveries in one transaction; for each, whether
        the claim was still held (and the attempt recorded)."""
        if not records:
            return []
        ids = [delivery_id for delivery_id, _ in records]
        if self.db.is_postgres:
            with self.db.write() as conn:
                params = _record_many_postgres_params(records, worker_id, now)
                recorded = set(conn.execute(_RECORD_MANY_POSTGRES, params).scalars())
            return [delivery_id in recorded for delivery_id in ids]
        with self.db.write() as conn:
            held = set(conn.execute(_HELD_BY, {"b_ids": ids, "b_worker": worker_id}).scalars())
            kept = [(delivery_id, record) for delivery_id, record in records if delivery_id in held]
            if kept:
                conn.execute(
                    _RECORD_ATTEMPT,
                    [_record_params(delivery_id, worker_id, r, now) for delivery_id, r in kept],
                )
                conn.execute(
                    _INSERT_ATTEMPT, [_attempt_row(delivery_id, r) for delivery_id, r in kept]
                )
        return [delivery_id in held for delivery_id in ids]

    # the worker's side ------------------------------------------------------------

    def load_work(self, delivery_id: str) -> WorkItem | None:
        """The delivery with its endpoint and event; None if it does not exist."""
        with self.db.read() as conn:
            return _load_work(conn, delivery_id)

    def claim_work(
        self,
        delivery_id: str,
        worker_id: str,
        now: datetime,
        lease: timedelta,
        due_by: datetime | None = None,
    ) -> tuple[WorkItem | None, bool]:
        """Take the delivery for one attempt and load what the attempt needs, in one go.

        It is taken only if it is not final, no other worker holds a live lease, and it is
        due by ``due_by`` (default ``now``). Returns the work item (None if the delivery
        does not exist) and whether it was taken; the item shows the state either way.
        """
        params = _claim_params(delivery_id, worker_id, now, lease, due_by)
        with self.db.write() as conn:
            result = conn.execute(_CLAIM_WORK, params)
            return _load_work(conn, delivery_id), result.rowcount == 1

    def claim_due(
        self, worker_id: str, now: datetime, lease: timedelta, limit: int
    ) -> list[Delivery]:
        """The `db` transport's fetch: claim up to ``limit`` due deliveries, oldest first.

        PostgreSQL skips rows other workers have locked; SQLite serialises writers with
        BEGIN IMMEDIATE, so two workers never claim the same row on either.
        """
        due = or_(
            and_(deliveries.c.status.in_(RETRYABLE), deliveries.c.next_attempt_at <= now),
            and_(
                deliveries.c.status == DeliveryStatus.INFLIGHT.value,
                deliveries.c.claimed_until < now,
            ),
        )
        pick = select(deliveries).where(due).order_by(deliveries.c.next_attempt_at).limit(limit)
        if self.db.is_postgres:
            pick = pick.with_for_update(skip_locked=True)
        with self.db.write() as conn:
            rows = conn.execute(pick).all()
            if not rows:
                return []
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_([r.id for r in rows]))
                .values(
                    status=DeliveryStatus.INFLIGHT.value,
                    claimed_by=worker_id,
                    claimed_until=now + lease,
                    updated_at=now,
                )
            )
        return [delivery_from_row(r) for r in rows]

    def record_attempt(
        self, delivery_id: str, worker_id: str, record: AttemptRecord, now: datetime
    ) -> bool:
        """Store one attempt and move the delivery on; False if the claim was lost."""
        params = _record_params(delivery_id, worker_id, record, now)
        with self.db.write() as conn:
            if conn.execute(_RECORD_ATTEMPT, params).rowcount != 1:
                return False
            conn.execute(_INSERT_ATTEMPT, _attempt_row(delivery_id, record))
        return True

    def release(
        self, delivery_id: str, worker_id: str, next_attempt_at: datetime, now: datetime
    ) -> None:
        """Give a claimed delivery back unattempted (rate limit, open circuit, shutdown)."""
        with self.db.write() as conn:
            row = conn.execute(
                select(deliveries.c.attempts).where(
                    deliveries.c.id == delivery_id, deliveries.c.claimed_by == worker_id
                )
            ).first()
            if row is None:
                return
            status = DeliveryStatus.QUEUED if row.attempts == 0 else DeliveryStatus.FAILED
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id, deliveries.c.claimed_by == worker_id)
                .values(
                    status=status.value,
                    next_attempt_at=next_attempt_at,
                    claimed_by=None,
                    claimed_until=None,
                    updated_at=now,
                )
            )

    # the reconciler's side --------------------------------------------------------

    def stale_deliveries(self, now: datetime, older_than: timedelta, limit: int) -> list[Delivery]:
        """Deliveries whose message may be lost: due long ago, or claimed by a dead worker."""
        cutoff = now - older_than
        query = (
            select(deliveries)
            .where(
                or_(
                    and_(
                        deliveries.c.status.in_(RETRYABLE),
                        deliveries.c.next_attempt_at < cutoff,
                    ),
                    and_(
                        deliveries.c.status == DeliveryStatus.INFLIGHT.value,
                        deliveries.c.claimed_until < cutoff,
                    ),
                )
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [delivery_from_row(r) for r in conn.execute(query).all()]

    def mark_republished(self, delivery_ids: Sequence[str], now: datetime) -> None:
        """Restart the reconciler's clock for deliveries whose message was sent again."""
        if not delivery_ids:
            return
        with self.db.write() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)), deliveries.c.status.in_(RETRYABLE))
                .values(next_attempt_at=now, updated_at=now)
            )
