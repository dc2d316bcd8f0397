"""One delivery attempt judged: what to record, what comes next, what to count.

The worker's delivery service asks the outbound adapter for an ``AttemptResult`` and hands
it, with the attempt's facts, the retry policy, the circuit breaker's verdict, the clock
value and the random source, to :func:`judge_attempt`. What comes back is an
``AttemptOutcome``: the ``AttemptRecord`` the store keeps (which also names the next state:
delivered, failed with its next attempt time, or dead with its reason), the seconds until
the retry, and the metric events. The service performs them; nothing here does I/O.

Metric events name the series of DESIGN.md's catalogue (``harborhook_deliveries_total``,
``_delivery_latency_seconds``, ``_delivery_e2e_seconds``, ``_retries_total``,
``_dlq_total``, ``_circuit_open``); ``harborctl.observability.metrics`` records them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from harborctl.domain.models import DeliveryStatus, FailureReason
from harborctl.domain.retry import RetryPolicy, parse_retry_after

ENDPOINT_DELETED_ERROR = "endpoint was deleted"


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one outbound POST came to, as the outbound adapter reports it.

    ``duration`` is seconds; ``retry_after`` is the raw ``Retry-After`` header (only read
    from error answers); ``reason`` is None on a 2xx and one of ``FailureReason`` otherwise;
    ``error`` is a short text for the record (``HTTP 503 Service Unavailable``, ...);
    ``response_excerpt`` the first bytes of an error answer's body (at most about 1 KiB).
    """

    http_status: int | None  # None: no answer (timeout, connection refused, ...)
    duration: float
    retry_after: str | None = None
    reason: FailureReason | None = None
    error: str | None = None
    response_excerpt: bytes | None = None

    @property
    def ok(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt as the store keeps it, and the state it moves the delivery to.

    ``outcome`` is DELIVERED, FAILED (another attempt at ``next_attempt_at``) or DEAD (with
    ``reason`` as the dead reason). ``reason`` is a ``FailureReason`` value, None on success.
    ``response_excerpt`` is the start of an error answer's body as text (invalid UTF-8
    replaced), for whoever debugs why a receiver refused.
    """

    outcome: DeliveryStatus
    attempt_no: int
    started_at: datetime
    duration_ms: float
    http_status: int | None
    error: str | None
    reason: str | None
    next_attempt_at: datetime | None = None
    response_excerpt: str | None = None


@dataclass(frozen=True, slots=True)
class Attempted:
    """The facts of the attempt being judged."""

    tenant_id: str
    endpoint_id: str
    attempt_no: int  # 1-based
    started_at: datetime
    event_created_at: datetime  # when the event was accepted: the end-to-end latency's start
    max_attempts: int | None = None  # the endpoint's override of the policy's


# metric events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptFinished:
    """A delivery outcome (``harborhook_deliveries_total``) and, when an HTTP request was
    made, its latency in seconds (``harborhook_delivery_latency_seconds``)."""

    status: DeliveryStatus  # DELIVERED, FAILED or DEAD
    tenant_id: str
    endpoint_id: str
    seconds: float | None


@dataclass(frozen=True, slots=True)
class Retried:
    """The delivery was scheduled again (``harborhook_retries_total``)."""

    endpoint_id: str
    reason: FailureReason


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """The delivery went to the dead-letter queue (``harborhook_dlq_total``)."""

    endpoint_id: str
    reason: FailureReason


@dataclass(frozen=True, slots=True)
class DeliveredEndToEnd:
    """Event accepted to delivered, retries included (``harborhook_delivery_e2e_seconds``)."""

    tenant_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class CircuitState:
    """The endpoint's breaker after the attempt (``harborhook_circuit_open``)."""

    endpoint_id: str
    open: bool


DeliveryMetric = AttemptFinished | Retried | DeadLettered | DeliveredEndToEnd | CircuitState


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What an attempt decided: the record to keep, when to retry, what to count."""

    record: AttemptRecord
    retry_in: float | None  # seconds until the next attempt; None when the delivery is final
    metrics: tuple[DeliveryMetric, ...]

    @property
    def status(self) -> DeliveryStatus:
        return self.record.outcome


def judge_attempt(
    attempt: Attempted,
    result: AttemptResult,
    *,
    policy: RetryPolicy,
    breaker_open: bool,
    now: datetime,
    rng: random.Random,
) -> AttemptOutcome:
    """Judge one HTTP attempt that ended at ``now``.

    A 2xx is delivered. A reason that is not retryable (``blocked_address``) is dead at
    once: trying again cannot help. Anything else is retried per ``policy`` (with the endpoint's
    ``max_attempts`` override; ``Retry-After`` honoured on 429/503, see
    :meth:`RetryPolicy.decide`) or, once attempts are exhausted, dead with the result's
    reason (``error`` when it has none). ``breaker_open`` is the endpoint's breaker state
    after this attempt was recorded on it. ``rng`` is drawn from only for a backoff delay.
    """
    circuit = CircuitState(attempt.endpoint_id, breaker_open)
    if result.ok:
        return _delivered(attempt, result, now, circuit)
    reason = result.reason or FailureReason.ERROR
    if not reason.retryable:
        return _dead(attempt, result, reason, result.duration, circuit)
    decision = policy.with_max_attempts(attempt.max_attempts).decide(
        attempt.attempt_no,
        result.http_status,
        parse_retry_after(result.retry_after, now),
        rng,
    )
    if decision.final:
        return _dead(attempt, result, reason, result.duration, circuit)
    next_at = now + timedelta(seconds=decision.delay)
    return AttemptOutcome(
        record=_record(attempt, result, DeliveryStatus.FAILED, reason, next_at),
        retry_in=decision.delay,
        metrics=(
            circuit,
            _finished(attempt, DeliveryStatus.FAILED, result.duration),
            Retried(attempt.endpoint_id, reason),
        ),
    )


def judge_endpoint_deleted(attempt: Attempted) -> AttemptOutcome:
    """The endpoint was deleted after the delivery was queued: dead, without an HTTP request
    (counted as dead, no latency observed). ``attempt.started_at`` is the judging time."""
    result = AttemptResult(None, 0.0, error=ENDPOINT_DELETED_ERROR)
    return _dead(attempt, result, FailureReason.ENDPOINT_DELETED, None, None)


def _delivered(
    attempt: Attempted, result: AttemptResult, now: datetime, circuit: CircuitState
) -> AttemptOutcome:
    return AttemptOutcome(
        record=_record(attempt, result, DeliveryStatus.DELIVERED, None),
        retry_in=None,
        metrics=(
            circuit,
            _finished(attempt, DeliveryStatus.DELIVERED, result.duration),
            DeliveredEndToEnd(attempt.tenant_id, (now - attempt.event_created_at).total_seconds()),
        ),
    )


def _dead(
    attempt: Attempted,
    result: AttemptResult,
    reason: FailureReason,
    seconds: float | None,
    circuit: CircuitState | None,
) -> AttemptOutcome:
    metrics: tuple[DeliveryMetric, ...] = (
        _finished(attempt, DeliveryStatus.DEAD, seconds),
        DeadLettered(attempt.endpoint_id, reason),
    )
    return AttemptOutcome(
        record=_record(attempt, result, DeliveryStatus.DEAD, reason),
        retry_in=None,
        metrics=metrics if circuit is None else (circuit, *metrics),
    )


def _record(
    attempt: Attempted,
    result: AttemptResult,
    outcome: DeliveryStatus,
    reason: FailureReason | None,
    next_attempt_at: datetime | None = None,
) -> AttemptRecord:
    return AttemptRecord(
        outcome=outcome,
        attempt_no=attempt.attempt_no,
        started_at=attempt.started_at,
        duration_ms=result.duration * 1000,
        http_status=result.http_status,
        error=None if outcome is DeliveryStatus.DELIVERED else result.error,
        reason=reason.value if reason is not None else None,
        next_attempt_at=next_attempt_at,
        response_excerpt=(
            result.response_excerpt.decode("utf-8", "replace").replace("\x00", "\ufffd")
            if result.response_excerpt
            else None
        ),
    )


def _finished(attempt: Attempted, status: DeliveryStatus, seconds: float | None) -> AttemptFinished:
    return AttemptFinished(status, attempt.tenant_id, attempt.endpoint_id, seconds)
