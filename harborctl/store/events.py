"""Events and what became of them: publish (event + fan-out rows), queries, replay.

Every public method is one transaction. Times are passed in (UTC-aware) so the callers,
not the store, decide what "now" is. Reads of one tenant never see another's rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, tuple_
from sqlalchemy.exc import IntegrityError

from harborctl.domain.models import Attempt, Delivery, DeliveryStatus, Event, new_id
from harborctl.errors import Conflict, NotFound, StoreError
from harborctl.store.database import Database
from harborctl.store.rows import (
    RETRYABLE,
    attempt_from_row,
    delivery_from_row,
    delivery_from_values,
    event_from_row,
    queued_delivery_row,
)
from harborctl.store.schema import (
    deliveries,
    delivery_attempts,
    endpoints,
    events,
    idempotency_keys,
    subscriptions,
)

#: How long an idempotency key names its first event (DESIGN.md: "the same key within 24 h").
IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """One event to publish: ``payload`` is the JSON bytes as the publisher sent them;
    ``trace_context`` (W3C ``traceparent``...) is stored with each of its deliveries."""

    tenant_id: str
    event_type: str
    payload: bytes
    idempotency_key: str | None = None
    trace_context: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    event_id: str
    deliveries: list[Delivery]
    duplicate: bool

    @property
    def fanout_count(self) -> int:
        return len(self.deliveries)


class EventRepository:
    def __init__(self, database: Database) -> None:
        self.db = database

    # publishing -------------------------------------------------------------------

    def publish_event(
        self,
        tenant_id: str,
        *,
        event_type: str,
        payload: bytes,
        idempotency_key: str | None,
        now: datetime,
        trace_context: dict[str, str] | None = None,
    ) -> PublishOutcome:
        """Insert the event and one queued delivery per subscribed endpoint, atomically.

        The same idempotency key within 24 h returns the first event and creates nothing.
        """
        for _ in range(3):  # a concurrent publish of the same key may win the race once
            try:
                with self.db.write() as conn:
                    return _publish_in(
                        conn, tenant_id, event_type, payload, idempotency_key, now, trace_context
                    )
            except IntegrityError:
                if idempotency_key is None:
                    raise
        raise StoreError(f"could not settle idempotency key {idempotency_key!r}")

    def publish_many(self, new: Sequence[NewEvent], now: datetime) -> list[PublishOutcome]:
        """:meth:`publish_event` for concurrent publishes in one transaction (group commit):
        one outcome per event, in order. Within the batch, a repeated idempotency key of
        one tenant is a duplicate of its first use. When another process settles one of the
        keys at the same moment, the batch is published one event at a time instead."""
        if not new:
            return []
        try:
            with self.db.write() as conn:
                return _publish_many_in(conn, new, now)
        except IntegrityError:
            if all(event.idempotency_key is None for event in new):
                raise
        return [
            self.publish_event(
                e.tenant_id,
                event_type=e.event_type,
                payload=e.payload,
                idempotency_key=e.idempotency_key,
                now=now,
                trace_context=e.trace_context,
            )
            for e in new
        ]

    def get_event(self, tenant_id: str, event_id: str) -> Event:
        with self.db.read() as conn:
            row = conn.execute(
                select(events).where(events.c.id == event_id, events.c.tenant_id == tenant_id)
            ).first()
        if row is None:
            raise NotFound("event", event_id)
        return event_from_row(row)

    # deliveries -------------------------------------------------------------------

    def deliveries_for_event(self, tenant_id: str, event_id: str) -> list[Delivery]:
        self.get_event(tenant_id, event_id)
        with self.db.read() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.event_id == event_id, deliveries.c.tenant_id == tenant_id)
                .order_by(deliveries.c.created_at, deliveries.c.id)
            ).all()
        return [delivery_from_row(r) for r in rows]

    def list_deliveries(
        self,
        tenant_id: str,
        *,
        status: DeliveryStatus | None = None,
        endpoint_id: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
        unreplayed_only: bool = False,
    ) -> list[Delivery]:
        """Newest first (by last change); ``since`` filters on the last change too."""
        query = select(deliveries).where(deliveries.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(deliveries.c.status == status.value)
        if endpoint_id is not None:
            query = query.where(deliveries.c.endpoint_id == endpoint_id)
        if since is not None:
            query = query.where(deliveries.c.updated_at >= since)
        if unreplayed_only:
            child = deliveries.alias("child")
            query = query.where(
                ~select(child.c.id).where(child.c.replay_of == deliveries.c.id).exists()
            )
        query = query.order_by(deliveries.c.updated_at.desc(), deliveries.c.id).limit(limit)
        with self.db.read() as conn:
            return [delivery_from_row(r) for r in conn.execute(query).all()]

    def deliveries_by_id(self, delivery_ids: Sequence[str]) -> list[Delivery]:
        """The deliveries with these ids (any tenant; missing ids are skipped), oldest first."""
        if not delivery_ids:
            return []
        with self.db.read() as conn:
            rows = conn.execute(
                select(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .order_by(deliveries.c.created_at, deliveries.c.id)
            ).all()
        return [delivery_from_row(r) for r in rows]

    def get_delivery(self, tenant_id: str, delivery_id: str) -> tuple[Delivery, list[Attempt]]:
        """The delivery and its attempts in order; raises NotFound."""
        with self.db.read() as conn:
            row = conn.execute(
                select(deliveries).where(
                    deliveries.c.id == delivery_id, deliveries.c.tenant_id == tenant_id
                )
            ).first()
            if row is None:
                raise NotFound("delivery", delivery_id)
            attempts = conn.execute(
                select(delivery_attempts)
                .where(delivery_attempts.c.delivery_id == delivery_id)
                .order_by(delivery_attempts.c.attempt_no, delivery_attempts.c.id)
            ).all()
        return delivery_from_row(row), [attempt_from_row(a) for a in attempts]

    def count_by_status(self) -> dict[tuple[str, str, str], int]:
        """(tenant_id, endpoint_id, status) → count of deliveries not delivered: the backlog
        as the database sees it. Delivered rows, the bulk of the table, are never read (the
        status-first index serves the filter)."""
        waiting = (*RETRYABLE, DeliveryStatus.INFLIGHT.value, DeliveryStatus.DEAD.value)
        with self.db.read() as conn:
            rows = conn.execute(
                select(
                    deliveries.c.tenant_id,
                    deliveries.c.endpoint_id,
                    deliveries.c.status,
                    func.count(),
                )
                .where(deliveries.c.status.in_(waiting))
                .group_by(deliveries.c.tenant_id, deliveries.c.endpoint_id, deliveries.c.status)
            ).all()
        return {(r[0], r[1], r[2]): int(r[3]) for r in rows}

    # replay -----------------------------------------------------------------------

    def replay(self, tenant_id: str, delivery_id: str, now: datetime) -> Delivery:
        """A new queued delivery replaying a dead one; raises NotFound, or Conflict when the
        delivery is not dead, was replayed already, or its endpoint was deleted."""
        with self.db.write() as conn:
            row = conn.execute(
                select(deliveries).where(
                    deliveries.c.id == delivery_id, deliveries.c.tenant_id == tenant_id
                )
            ).first()
            if row is None:
                raise NotFound("delivery", delivery_id)
            made = _replay_rows(conn, [row], now)
            if not made:
                raise Conflict(f"delivery {delivery_id} is {row.status} or already replayed")
            return made[0]

    def replay_dead(
        self,
        tenant_id: str,
        *,
        endpoint_id: str | None,
        since: datetime | None,
        now: datetime,
        dry_run: bool,
        limit: int = 10_000,
    ) -> list[tuple[str | None, str]]:
        """Replay every dead, not yet replayed delivery matching the filter.

        Returns (new delivery id, replayed id) pairs; the new id is None on a dry run.
        """
        candidates = self.list_deliveries(
            tenant_id,
            status=DeliveryStatus.DEAD,
            endpoint_id=endpoint_id,
            since=since,
            limit=limit,
            unreplayed_only=True,
        )
        if dry_run:
            return [(None, d.id) for d in candidates]
        with self.db.write() as conn:
            rows = conn.execute(
                select(deliveries).where(deliveries.c.id.in_([d.id for d in candidates]))
            ).all()
            made = _replay_rows(conn, rows, now)
        return [(d.id, d.replay_of or "") for d in made]


def _publish_in(
    conn: Connection,
    tenant_id: str,
    event_type: str,
    payload: bytes,
    idempotency_key: str | None,
    now: datetime,
    trace_context: dict[str, str] | None,
) -> PublishOutcome:
    event_id = new_id("evt")
    if idempotency_key is not None:
        existing = conn.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.tenant_id == tenant_id,
                idempotency_keys.c.key == idempotency_key,
            )
        ).first()
        if existing is not None and existing.expires_at > now:
            first = conn.execute(
                select(deliveries)
                .where(
                    deliveries.c.event_id == existing.event_id,
                    deliveries.c.replay_of.is_(None),
                )
                .order_by(deliveries.c.id)
            ).all()
            return PublishOutcome(existing.event_id, [delivery_from_row(r) for r in first], True)
        if existing is not None:
            conn.execute(
                idempotency_keys.delete().where(
                    idempotency_keys.c.tenant_id == tenant_id,
                    idempotency_keys.c.key == idempotency_key,
                )
            )
    conn.execute(
        insert(events).values(
            id=event_id,
            tenant_id=tenant_id,
            event_type=event_type,
            payload=payload,
            idempotency_key=idempotency_key,
            created_at=now,
        )
    )
    if idempotency_key is not None:
        conn.execute(
            insert(idempotency_keys).values(
                tenant_id=tenant_id,
                key=idempotency_key,
                event_id=event_id,
                expires_at=now + IDEMPOTENCY_WINDOW,
            )
        )
    endpoint_ids = conn.execute(
        select(subscriptions.c.endpoint_id)
        .join(endpoints, endpoints.c.id == subscriptions.c.endpoint_id)
        .where(
            subscriptions.c.tenant_id == tenant_id,
            subscriptions.c.event_type == event_type,
            endpoints.c.deleted_at.is_(None),
        )
        .order_by(subscriptions.c.endpoint_id)
    ).scalars()
    rows = [
        queued_delivery_row(event_id, tenant_id, endpoint_id, now, trace_context)
        for endpoint_id in endpoint_ids
    ]
    if rows:
        conn.execute(insert(deliveries), rows)  # one executemany, batched by the driver
    made = [delivery_from_values(r) for r in rows]
    return PublishOutcome(event_id, made, False)


def _publish_many_in(
    conn: Connection, new: Sequence[NewEvent], now: datetime
) -> list[PublishOutcome]:
    """The batch's statements: the keys it names, the subscriptions it fans out to, then
    one multi-row insert each for events, keys and deliveries."""
    earlier = _live_keys(conn, new, now)
    fan_out = _subscribers(conn, new)
    outcomes: list[PublishOutcome] = []
    event_rows: list[dict[str, Any]] = []
    key_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for event in new:
        key = (event.tenant_id, event.idempotency_key)
        if event.idempotency_key is not None and key in earlier:
            outcomes.append(earlier[key])
            continue
        event_id = new_id("evt")
        event_rows.append(
            {
                "id": event_id,
                "tenant_id": event.tenant_id,
                "event_type": event.event_type,
                "payload": event.payload,
                "idempotency_key": event.idempotency_key,
                "created_at": now,
            }
        )
        rows = [
            queued_delivery_row(event_id, event.tenant_id, endpoint_id, now, event.trace_context)
            for endpoint_id in fan_out.get((event.tenant_id, event.event_type), ())
        ]
        delivery_rows += rows
        outcome = PublishOutcome(event_id, [delivery_from_values(r) for r in rows], False)
        outcomes.append(outcome)
        if event.idempotency_key is not None:
            key_rows.append(
                {
                    "tenant_id": event.tenant_id,
                    "key": event.idempotency_key,
                    "event_id": event_id,
                    "expires_at": now + IDEMPOTENCY_WINDOW,
                }
            )
            earlier[key] = PublishOutcome(event_id, outcome.deliveries, True)
    if event_rows:
        conn.execute(insert(events), event_rows)
    if key_rows:
        conn.execute(insert(idempotency_keys), key_rows)
    if delivery_rows:
        conn.execute(insert(deliveries), delivery_rows)
    return outcomes


def _live_keys(
    conn: Connection, new: Sequence[NewEvent], now: datetime
) -> dict[tuple[str, str | None], PublishOutcome]:
    """The batch's idempotency keys that still name an earlier event (as duplicates of it);
    expired ones are deleted so they can be used again."""
    pairs = {(e.tenant_id, e.idempotency_key) for e in new if e.idempotency_key is not None}
    if not pairs:
        return {}
    column_pair = tuple_(idempotency_keys.c.tenant_id, idempotency_keys.c.key)
    found = conn.execute(select(idempotency_keys).where(column_pair.in_(list(pairs)))).all()
    expired = [(r.tenant_id, r.key) for r in found if r.expires_at <= now]
    if expired:
        conn.execute(idempotency_keys.delete().where(column_pair.in_(expired)))
    live = {r.event_id: (r.tenant_id, r.key) for r in found if r.expires_at > now}
    if not live:
        return {}
    firsts: dict[str, list[Delivery]] = {event_id: [] for event_id in live}
    for row in conn.execute(
        select(deliveries)
        .where(deliveries.c.event_id.in_(list(live)), deliveries.c.replay_of.is_(None))
        .order_by(deliveries.c.id)
    ):
        firsts[row.event_id].append(delivery_from_row(row))
    return {key: PublishOutcome(event_id, firsts[event_id], True) for event_id, key in live.items()}


def _subscribers(conn: Connection, new: Sequence[NewEvent]) -> dict[tuple[str, str], list[str]]:
    """(tenant_id, event_type) → the live endpoints subscribed, ordered by id."""
    pairs = list({(e.tenant_id, e.event_type) for e in new})
    rows = conn.execute(
        select(subscriptions.c.tenant_id, subscriptions.c.event_type, subscriptions.c.endpoint_id)
        .join(endpoints, endpoints.c.id == subscriptions.c.endpoint_id)
        .where(
            tuple_(subscriptions.c.tenant_id, subscriptions.c.event_type).in_(pairs),
            endpoints.c.deleted_at.is_(None),
        )
        .order_by(subscriptions.c.endpoint_id)
    )
    found: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        found.setdefault((row.tenant_id, row.event_type), []).append(row.endpoint_id)
    return found


def _replay_rows(conn: Connection, rows: Sequence[Any], now: datetime) -> list[Delivery]:
    """New queued deliveries for the dead rows among ``rows`` not replayed yet whose
    endpoint still exists."""
    dead = [r for r in rows if r.status == DeliveryStatus.DEAD.value]
    if not dead:
        return []
    already = set(
        conn.execute(
            select(deliveries.c.replay_of).where(deliveries.c.replay_of.in_([r.id for r in dead]))
        ).scalars()
    )
    live_endpoints = set(
        conn.execute(
            select(endpoints.c.id).where(
                endpoints.c.id.in_({r.endpoint_id for r in dead}),
                endpoints.c.deleted_at.is_(None),
            )
        ).scalars()
    )
    new_rows = [
        queued_delivery_row(
            r.event_id, r.tenant_id, r.endpoint_id, now, r.trace_context, replay_of=r.id
        )
        for r in dead
        if r.id not in already and r.endpoint_id in live_endpoints
    ]
    if new_rows:
        conn.execute(insert(deliveries), new_rows)
    return [delivery_from_values(r) for r in new_rows]
