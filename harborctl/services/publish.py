"""Publish an event: persist it with its deliveries in one transaction, then fan out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from harborctl.errors import TransportError
from harborctl.observability.metrics import Metrics
from harborctl.observability.tracing import SPAN_FAN_OUT, inject_context, tracer
from harborctl.queue.base import Publisher
from harborctl.queue.envelope import DeliveryMessage
from harborctl.store.events import EventRepository, PublishOutcome

log = logging.getLogger(__name__)


class PublishService:
    def __init__(
        self,
        events: EventRepository,
        publisher: Publisher,
        metrics: Metrics,
        clock: Callable[[], datetime],
    ) -> None:
        self.events = events
        self.publisher = publisher
        self.metrics = metrics
        self.clock = clock

    async def publish(
        self,
        tenant_id: str,
        *,
        event_type: str,
        payload: bytes,
        idempotency_key: str | None,
        trace_context: dict[str, str] | None = None,
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
            outcome = await asyncio.to_thread(
                self.events.publish_event,
                tenant_id,
                event_type=event_type,
                payload=payload,
                idempotency_key=idempotency_key,
                now=self.clock(),
                trace_context=context,
            )
            span.set_attributes(
                {
                    "event_id": outcome.event_id,
                    "fanout_count": outcome.fanout_count,
                    "duplicate": outcome.duplicate,
                }
            )
            if outcome.duplicate:
                return outcome
            messages = [DeliveryMessage.of(d, context) for d in outcome.deliveries]
            try:
                await self.publisher.publish(messages)
            except TransportError as exc:
                # accepted and durable: the reconciler re-publishes what stays queued
                span.record_exception(exc)
                log.warning(
                    "event %s committed but not published (%s); reconciler will retry",
                    outcome.event_id,
                    exc,
                    extra={"event_id": outcome.event_id},
                )
        self.metrics.published(tenant_id, time.perf_counter() - started)
        return outcome
