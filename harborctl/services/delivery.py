"""Deliver one message: claim, protect the endpoint, sign, POST, record, retry or dead-letter.

Transport-agnostic: it returns a disposition (``Done`` or ``Later(delay)``) and the
transport maps it to FIN/REQ (nsq) or to nothing (db, where the row already says when).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from harborctl.domain.breaker import CircuitBreaker
from harborctl.domain.models import DeliveryStatus, FailureReason
from harborctl.domain.ratelimit import TokenBucket
from harborctl.domain.retry import RetryPolicy, parse_retry_after
from harborctl.domain.signing import signature_headers
from harborctl.observability.logging import log_context
from harborctl.observability.metrics import Metrics
from harborctl.observability.tracing import current_trace_id
from harborctl.queue.base import Disposition, Done, Later, Publisher
from harborctl.queue.envelope import DeliveryMessage, dead_letter_body
from harborctl.services.tracing import Span, attempt_span, note_deferred, record_attempt
from harborctl.store.repository import AttemptRecord, Store, WorkItem
from harborctl.worker.http import HttpResult, WebhookClient

log = logging.getLogger(__name__)

DUE_TOLERANCE = timedelta(milliseconds=250)


class EndpointGuards:
    """Per-endpoint circuit breakers and token buckets, held in this worker's memory."""

    def __init__(
        self,
        *,
        default_rps: float,
        burst: int,
        failure_threshold: int,
        cooldown_seconds: float,
    ) -> None:
        self.default_rps = default_rps
        self.burst = burst
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self.breakers: dict[str, CircuitBreaker] = {}
        self.buckets: dict[str, TokenBucket] = {}

    def breaker(self, endpoint_id: str) -> CircuitBreaker:
        found = self.breakers.get(endpoint_id)
        if found is None:
            found = CircuitBreaker(self.failure_threshold, self.cooldown_seconds)
            self.breakers[endpoint_id] = found
        return found

    def bucket(self, endpoint_id: str, rps: float | None) -> TokenBucket:
        rate = rps or self.default_rps
        found = self.buckets.get(endpoint_id)
        if found is None or found.rate != rate:
            found = TokenBucket(rate, max(self.burst, 1))
            self.buckets[endpoint_id] = found
        return found


class DeliveryProcessor:
    def __init__(
        self,
        *,
        store: Store,
        client: WebhookClient,
        dead_letters: Publisher,
        guards: EndpointGuards,
        policy: RetryPolicy,
        metrics: Metrics,
        worker_id: str,
        lease: timedelta,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.dead_letters = dead_letters
        self.guards = guards
        self.policy = policy
        self.metrics = metrics
        self.worker_id = worker_id
        self.lease = lease
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng or random.Random()

    async def __call__(self, message: DeliveryMessage, claimed: bool) -> Disposition:
        return await self.process(message, claimed)

    async def process(self, message: DeliveryMessage, claimed: bool) -> Disposition:
        with log_context(
            tenant_id=message.tenant_id,
            event_id=message.event_id,
            endpoint_id=message.endpoint_id,
            delivery_id=message.delivery_id,
        ):
            return await self._process(message, claimed)

    async def _process(self, message: DeliveryMessage, claimed: bool) -> Disposition:
        now = self.clock()
        if claimed:  # the db transport claimed the row when it fetched it
            item = await asyncio.to_thread(self.store.load_work, message.delivery_id)
        else:
            item, claimed = await asyncio.to_thread(
                self.store.claim_work,
                message.delivery_id,
                self.worker_id,
                now,
                self.lease,
                now + DUE_TOLERANCE,
            )
        if item is None:
            log.warning("delivery %s does not exist; dropping its message", message.delivery_id)
            return Done()
        if not claimed:
            delivery = item.delivery
            if delivery.status.is_final:
                return Done()  # a duplicate message: at-least-once, the row says it's done
            if delivery.status is not DeliveryStatus.INFLIGHT:  # not due yet
                return Later(max((delivery.next_attempt_at - now).total_seconds(), 0.0))
            return Later(self.lease.total_seconds())  # another worker holds a live lease
        return await self._attempt(message, item)

    async def _attempt(self, message: DeliveryMessage, item: WorkItem) -> Disposition:
        delivery, endpoint = item.delivery, item.endpoint
        attempt_no = delivery.attempts + 1
        if item.endpoint_deleted:
            await self._finish_dead(
                message,
                item,
                attempt_no,
                FailureReason.ENDPOINT_DELETED,
                HttpResult(None, 0.0, error="endpoint was deleted"),
            )
            return Done()

        mono = self.monotonic()
        breaker = self.guards.breaker(endpoint.id)
        if not breaker.allow(mono):
            self.metrics.breaker_state(endpoint.id, True)
            return await self._defer(item, breaker.retry_after(mono), FailureReason.CIRCUIT_OPEN)
        wait = self.guards.bucket(endpoint.id, endpoint.rate_limit_rps).try_acquire(mono)
        if wait > 0:
            return await self._defer(item, wait, FailureReason.RATE_LIMITED)
        with attempt_span(attempt_no) as span, log_context(attempt=attempt_no):
            return await self._send(message, item, attempt_no, breaker, span)

    async def _send(
        self,
        message: DeliveryMessage,
        item: WorkItem,
        attempt_no: int,
        breaker: CircuitBreaker,
        span: Span,
    ) -> Disposition:
        """One HTTP attempt (inside its attempt span), recorded; then done, retry or dead."""
        delivery, endpoint = item.delivery, item.endpoint
        started_at = self.clock()
        timestamp = int(started_at.timestamp())
        headers = signature_headers(endpoint.secret, item.event.id, timestamp, item.event.payload)
        headers["Content-Type"] = "application/json"
        trace_id = current_trace_id()
        if trace_id:
            headers["X-Trace-Id"] = trace_id
        result = await self.client.post(endpoint.url, item.event.payload, headers)
        finished = self.clock()
        record_attempt(span, result.http_status, result.reason, result.error)

        if result.ok:
            breaker.record_success()
            self.metrics.breaker_state(endpoint.id, breaker.is_open)
            await self._record(
                item,
                AttemptRecord(
                    outcome=DeliveryStatus.DELIVERED,
                    attempt_no=attempt_no,
                    started_at=started_at,
                    duration_ms=result.duration * 1000,
                    http_status=result.http_status,
                    error=None,
                    reason=None,
                ),
                finished,
            )
            self.metrics.attempt_finished(
                "delivered", delivery.tenant_id, endpoint.id, result.duration
            )
            self.metrics.delivered_end_to_end(
                delivery.tenant_id, (finished - item.event.created_at).total_seconds()
            )
            log.info(
                "delivery %s delivered on attempt %d (HTTP %s, %.0f ms)",
                delivery.id,
                attempt_no,
                result.http_status,
                result.duration * 1000,
            )
            return Done()

        breaker.record_failure(self.monotonic())
        self.metrics.breaker_state(endpoint.id, breaker.is_open)
        reason = result.reason or FailureReason.ERROR
        policy = self.policy.with_max_attempts(endpoint.max_attempts)
        decision = policy.decide(
            attempt_no,
            result.http_status,
            parse_retry_after(result.retry_after, finished),
            self.rng,
        )
        if not decision.retry:
            await self._finish_dead(message, item, attempt_no, reason, result, started_at)
            return Done()
        next_at = finished + timedelta(seconds=decision.delay)
        await self._record(
            item,
            AttemptRecord(
                outcome=DeliveryStatus.FAILED,
                attempt_no=attempt_no,
                started_at=started_at,
                duration_ms=result.duration * 1000,
                http_status=result.http_status,
                error=result.error,
                reason=reason.value,
                next_attempt_at=next_at,
            ),
            finished,
        )
        self.metrics.attempt_finished("failed", delivery.tenant_id, endpoint.id, result.duration)
        self.metrics.retried(endpoint.id, reason.value)
        log.info(
            "delivery %s attempt %d failed (%s); retry in %.1fs",
            delivery.id,
            attempt_no,
            reason.value,
            decision.delay,
        )
        return Later(decision.delay)

    async def _finish_dead(
        self,
        message: DeliveryMessage,
        item: WorkItem,
        attempt_no: int,
        reason: FailureReason,
        result: HttpResult,
        started_at: datetime | None = None,
    ) -> None:
        now = self.clock()
        await self._record(
            item,
            AttemptRecord(
                outcome=DeliveryStatus.DEAD,
                attempt_no=attempt_no,
                started_at=started_at or now,
                duration_ms=result.duration * 1000,
                http_status=result.http_status,
                error=result.error,
                reason=reason.value,
            ),
            now,
        )
        tenant, endpoint_id = item.delivery.tenant_id, item.endpoint.id
        # no HTTP attempt (endpoint deleted): counted, but no latency observed
        seconds = result.duration if started_at is not None else None
        self.metrics.attempt_finished("dead", tenant, endpoint_id, seconds)
        self.metrics.dead_lettered(endpoint_id, reason.value)
        log.warning(
            "delivery %s is dead after %d attempts (%s)", item.delivery.id, attempt_no, reason.value
        )
        try:
            await self.dead_letters.publish_dead_letter(
                dead_letter_body(message, reason.value, result.http_status, result.error)
            )
        except Exception:  # the dead row is the record; the DLQ topic is a notification
            log.exception("publishing delivery %s to the DLQ topic failed", item.delivery.id)

    async def _defer(self, item: WorkItem, delay: float, reason: FailureReason) -> Disposition:
        """Not attempted: hand it back for later. Deferred, never dropped."""
        note_deferred(reason, delay)
        now = self.clock()
        await asyncio.to_thread(
            self.store.release,
            item.delivery.id,
            self.worker_id,
            now + timedelta(seconds=delay),
            now,
        )
        self.metrics.retried(item.endpoint.id, reason.value)
        return Later(delay)

    async def _record(self, item: WorkItem, record: AttemptRecord, now: datetime) -> None:
        kept = await asyncio.to_thread(
            self.store.record_attempt, item.delivery.id, self.worker_id, record, now
        )
        if not kept:
            log.warning("delivery %s: lease lost before the result was recorded", item.delivery.id)
