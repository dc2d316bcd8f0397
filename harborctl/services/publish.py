"""Publish an event: persist it with its deliveries, then fan out through the transport."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from harborctl.errors import Overloaded, TransportError
from harborctl.observability.metrics import Metrics
from harborctl.observability.tracing import SPAN_FAN_OUT, inject_context, tracer
from harborctl.queue.base import Publisher
from harborctl.queue.envelope import DeliveryMessage
from harborctl.services.batching import GroupCommit, in_thread
from harborctl.store.events import EventRepository, NewEvent, PublishOutcome

log = logging.getLogger(__name__)


class PublishService:
    """Publishes events: commit, then hand the messages to the transport.

    Concurrent publishes share one transaction and one transport publish (group commit,
    ``harborctl.services.batching``): the events that arrive while a batch is being written
    form the next one. Deadline: a publish waits at most ``max_wait`` seconds for its batch
    (from ``admitted_at``, when the request arrived; how many are in progress at once is
    bounded before, in ``ingest.admission``); past that a publish raises ``Overloaded``
    (503 with Retry-After) before anything is stored, counted in
    ``harborhook_publish_refused_total{reason="deadline"}``.
    """

    def __init__(
        self,
        events: EventRepository,
        publisher: Publisher,
        metrics: Metrics,
        clock: Callable[[], datetime],
        *,
        max_batch: int = 200,
        max_wait: float | None = None,
    ) -> None:
        self.events = events
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock
        self._commits = GroupCommit(
            in_thread(self._commit_batch),
            max_batch=max_batch,
            max_wait=max_wait,
        )
        self._sends = GroupCommit(self._send_batch, max_batch=max_batch)

    async def publish(
        self,
        tenant_id: str,
        *,
        event_type: str,
        payload: bytes,
        idempotency_key: str | None,
        trace_context: dict[str, str] | None = None,
        admitted_at: float | None = None,
    ) -> PublishOutcome:
        """Commit first, then publish: a crash in between leaves `queued` rows for the
        reconciler, never an accepted event without deliveries."""
        started = time.perf_counter()
        with tracer().start_as_current_span(
            SPAN_FAN_OUT, attributes={"tenant_id": tenant_id, "event_type": event_type}
        ) as span:
            # stored with each delivery row and carried by each message: the worker (and
            # every retry, replay or re-publish) continues this trace
            context = trace_context if trace_context is not None else inject_context()
            try:
                outcome = await self._commits.submit(
                    NewEvent(tenant_id, event_type, payload, idempotency_key, context),
                    since=admitted_at,
                )
            except Overloaded:
                self.metrics.refused("deadline")
                raise
            span.set_attributes(
                {
                    "event_id": outcome.event_id,
                    "fanout_count": outcome.fanout_count,
                    "duplicate": outcome.duplicate,
                }
            )
            if outcome.duplicate or not outcome.deliveries:
                return outcome
            error = await self._sends.submit(
                [DeliveryMessage.of(d, context) for d in outcome.deliveries]
            )
            if error is not None:
                # accepted and durable: the reconciler re-publishes what stays queued
                span.record_exception(error)
                log.warning(
                    "event %s committed but not published (%s); reconciler will retry",
                    outcome.event_id,
                    error,
                    extra={"event_id": outcome.event_id},
                )
        self.metrics.published(tenant_id, time.perf_counter() - started)
        return outcome

    def _commit_batch(self, batch: list[NewEvent]) -> list[PublishOutcome]:
        return self.events.publish_many(batch, self.clock())

    async def _send_batch(
        self, batch: list[list[DeliveryMessage]]
    ) -> list[TransportError | None]:
        """One transport publish (one MPUB) for the messages of every event in the batch;
        each event learns whether its messages went out."""
        try:
            await self.publisher.publish([m for messages in batch for m in messages])
        except TransportError as exc:
            return [exc] * len(batch)
        return [None] * len(batch)
