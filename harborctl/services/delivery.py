"""Deliver one message: claim, protect the endpoint, sign, POST, record, retry or dead-letter.

What an attempt leads to is decided in the domain (``harborctl.domain.attempt``); this
service does the I/O around it: the claim, the POST, the store write, the metrics, the
logs and the dead-letter notice. Transport-agnostic: it returns a disposition (``Done`` or
``Later(delay)``) and the transport maps it to FIN/REQ (nsq) or to nothing (db, where the
row already says when).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from harborctl.domain.attempt import (
    Attempted,
    AttemptOutcome,
    AttemptRecord,
    AttemptResult,
    CircuitState,
    Retried,
    judge_attempt,
    judge_endpoint_deleted,
    judge_endpoint_disabled,
)
from harborctl.domain.breaker import CircuitBreaker
from harborctl.domain.guards import EndpointGuards
from harborctl.domain.lifecycle import signing_secrets
from harborctl.domain.models import DeliveryStatus, DisabledReason, FailureReason
from harborctl.domain.retry import RetryPolicy
from harborctl.domain.signing import signature_headers
from harborctl.observability.logging import log_context
from harborctl.observability.metrics import Metrics
from harborctl.observability.tracing import current_trace_id
from harborctl.outbound.http import WebhookClient
from harborctl.queue.base import Disposition, Done, Later, Publisher
from harborctl.queue.envelope import DeliveryMessage, dead_letter_body
from harborctl.services.batching import GroupCommit, in_thread
from harborctl.services.lifecycle import EndpointLifecycle
from harborctl.services.tracing import Span, attempt_span, note_deferred, record_attempt
from harborctl.store.work import WorkItem, WorkRepository

log = logging.getLogger(__name__)

DUE_TOLERANCE = timedelta(milliseconds=250)


class DeliveryProcessor:
    """The worker's handler: one step of work for one delivery message (see the module)."""

    def __init__(
        self,
        *,
        work: WorkRepository,
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
        lifecycle: EndpointLifecycle | None = None,
    ) -> None:
        self.work = work
        self.lifecycle = lifecycle  # what attempts change on their endpoint (410, failing)
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
        # concurrent deliveries share one transaction per step (services.batching)
        self._claims = GroupCommit(in_thread(self._claim_batch))
        self._loads = GroupCommit(in_thread(self.work.load_many))
        self._records = GroupCommit(in_thread(self._record_batch))

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
        if claimed:  # the db transport claimed the row when it fetched it
            item = await self._loads.submit(message.delivery_id)
        else:
            item, claimed = await self._claims.submit(message.delivery_id)
        now = self.clock()
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
        endpoint = item.endpoint
        attempt_no = item.delivery.attempts + 1
        if item.endpoint_deleted:
            now = self.clock()
            outcome = judge_endpoint_deleted(_attempted(item, attempt_no, now))
            return await self._perform(message, item, outcome)
        if not endpoint.enabled:  # dead at once: disabled endpoints get no attempts
            reason = endpoint.disabled_reason or DisabledReason.MANUAL
            outcome = judge_endpoint_disabled(_attempted(item, attempt_no, self.clock()), reason)
            return await self._perform(message, item, outcome)

        mono = self.monotonic()
        breaker = self.guards.breaker(endpoint.id, endpoint.breaker_failure_threshold)
        if not breaker.allow(mono):
            self.metrics.observe(CircuitState(endpoint.id, True))
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
        """One HTTP attempt (inside its attempt span), judged by the domain, then performed."""
        started_at = self.clock()
        try:
            headers = _request_headers(item, started_at)
        except Exception as exc:  # e.g. a stored secret that does not decode: still recorded
            result = AttemptResult(
                None, 0.0, reason=FailureReason.ERROR, error=f"cannot sign the request: {exc}"
            )
        else:
            result = await self.client.post(item.endpoint.url, item.event.payload, headers)
        finished = self.clock()
        record_attempt(span, result.http_status, result.reason, result.error)
        attempted = _attempted(item, attempt_no, started_at)
        breaker_open = self._breaker_verdict(breaker, result.ok)
        outcome = judge_attempt(
            attempted,
            result,
            policy=self.policy,
            breaker_open=breaker_open,
            now=finished,
            rng=self.rng,
        )
        if self.lifecycle is not None:
            disabled = await self.lifecycle.after_attempt(item.endpoint, result, finished)
            if disabled is not None:  # a 410, or the end of the failing period: no retry
                outcome = judge_endpoint_disabled(attempted, disabled, result, breaker_open)
        return await self._perform(message, item, outcome)

    def _breaker_verdict(self, breaker: CircuitBreaker, succeeded: bool) -> bool:
        """Tell the breaker how the attempt went; is it open now?"""
        if succeeded:
            breaker.record_success()
        else:
            breaker.record_failure(self.monotonic())
        return breaker.is_open

    async def _perform(
        self, message: DeliveryMessage, item: WorkItem, outcome: AttemptOutcome
    ) -> Disposition:
        """Carry out what the domain decided: store, count, log, dead-letter."""
        await self._record(item, outcome.record)
        for event in outcome.metrics:
            self.metrics.observe(event)
        _log_outcome(item.delivery.id, outcome)
        if outcome.status is DeliveryStatus.DEAD:
            await self._publish_dead_letter(message, outcome.record)
        return Done() if outcome.retry_in is None else Later(outcome.retry_in)

    async def _publish_dead_letter(self, message: DeliveryMessage, record: AttemptRecord) -> None:
        reason = record.reason or FailureReason.ERROR.value
        try:
            await self.dead_letters.publish_dead_letter(
                dead_letter_body(message, reason, record.http_status, record.error)
            )
        except Exception:  # the dead row is the record; the DLQ topic is a notification
            log.exception("publishing delivery %s to the DLQ topic failed", message.delivery_id)

    async def _defer(self, item: WorkItem, delay: float, reason: FailureReason) -> Disposition:
        """Not attempted: hand it back for later. Deferred, never dropped."""
        note_deferred(reason, delay)
        now = self.clock()
        await asyncio.to_thread(
            self.work.release,
            item.delivery.id,
            self.worker_id,
            now + timedelta(seconds=delay),
            now,
        )
        self.metrics.observe(Retried(item.endpoint.id, reason))
        return Later(delay)

    def _claim_batch(self, delivery_ids: list[str]) -> list[tuple[WorkItem | None, bool]]:
        """One claim for the deliveries whose messages arrived together (in a thread)."""
        now = self.clock()
        return self.work.claim_many(
            delivery_ids, self.worker_id, now, self.lease, now + DUE_TOLERANCE
        )

    def _record_batch(self, records: list[tuple[str, AttemptRecord]]) -> list[bool]:
        """One transaction for the attempts that ended together (in a thread)."""
        return self.work.record_many(records, self.worker_id, self.clock())

    async def _record(self, item: WorkItem, record: AttemptRecord) -> None:
        kept = await self._records.submit((item.delivery.id, record))
        if not kept:
            log.warning("delivery %s: lease lost before the result was recorded", item.delivery.id)


def _attempted(item: WorkItem, attempt_no: int, started_at: datetime) -> Attempted:
    return Attempted(
        tenant_id=item.delivery.tenant_id,
        endpoint_id=item.endpoint.id,
        attempt_no=attempt_no,
        started_at=started_at,
        event_created_at=item.event.created_at,
        max_attempts=item.endpoint.max_attempts,
    )


def _request_headers(item: WorkItem, now: datetime) -> dict[str, str]:
    """Standard Webhooks signature headers (timestamp ``now``; during a secret rotation's
    overlap one signature per secret), content type, trace id."""
    event, ep = item.event, item.endpoint
    keys = signing_secrets(ep.secret, ep.previous_secret, ep.previous_secret_until, now)
    headers = signature_headers(keys, event.id, int(now.timestamp()), event.payload)
    headers["Content-Type"] = "application/json"
    trace_id = current_trace_id()
    if trace_id:
        headers["X-Trace-Id"] = trace_id
    return headers


def _log_outcome(delivery_id: str, outcome: AttemptOutcome) -> None:
    record = outcome.record
    if outcome.status is DeliveryStatus.DELIVERED:
        log.info(
            "delivery %s delivered on attempt %d (HTTP %s, %.0f ms)",
            delivery_id,
            record.attempt_no,
            record.http_status,
            record.duration_ms,
        )
    elif outcome.status is DeliveryStatus.FAILED:
        log.info(
            "delivery %s attempt %d failed (%s); retry in %.1fs",
            delivery_id,
            record.attempt_no,
            record.reason,
            outcome.retry_in,
        )
    else:
        log.warning(
            "delivery %s is dead after %d attempts (%s)",
            delivery_id,
            record.attempt_no,
            record.reason,
        )
