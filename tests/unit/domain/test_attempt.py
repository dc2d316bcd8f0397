"""Judging one delivery attempt: the record, the next state and the metric events, no I/O."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from harborctl.domain.attempt import (
    Attempted,
    AttemptFinished,
    AttemptOutcome,
    AttemptResult,
    CircuitState,
    DeadLettered,
    DeliveredEndToEnd,
    Retried,
    judge_attempt,
    judge_endpoint_deleted,
    judge_endpoint_disabled,
)
from harborctl.domain.breaker import CircuitBreaker
from harborctl.domain.models import DeliveryStatus, DisabledReason, FailureReason
from harborctl.domain.retry import RetryPolicy

ACCEPTED = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
STARTED = ACCEPTED + timedelta(seconds=3)
NOW = STARTED + timedelta(milliseconds=250)
POLICY = RetryPolicy()  # 8 attempts, 1 s * 4^(n-1) capped at 600 s, jitter 1.2..1.4


def attempted(attempt_no: int = 1, max_attempts: int | None = None) -> Attempted:
    return Attempted(
        tenant_id="ten_1",
        endpoint_id="ep_1",
        attempt_no=attempt_no,
        started_at=STARTED,
        event_created_at=ACCEPTED,
        max_attempts=max_attempts,
    )


def failed(status: int | None = 500, retry_after: str | None = None) -> AttemptResult:
    reason = FailureReason.for_status(status) if status is not None else FailureReason.TIMEOUT
    error = f"HTTP {status}" if status is not None else "timed out"
    return AttemptResult(status, 0.25, retry_after=retry_after, reason=reason, error=error)


def judge(
    result: AttemptResult,
    attempt: Attempted | None = None,
    *,
    breaker_open: bool = False,
    rng: random.Random | None = None,
) -> AttemptOutcome:
    return judge_attempt(
        attempt or attempted(),
        result,
        policy=POLICY,
        breaker_open=breaker_open,
        now=NOW,
        rng=rng or random.Random(7),
    )


def test_a_2xx_is_delivered_and_counts_its_latency_and_end_to_end_time() -> None:
    rng = random.Random(7)
    before = rng.getstate()
    outcome = judge(AttemptResult(204, 0.25), attempted(attempt_no=3), rng=rng)
    record = outcome.record
    assert outcome.status is DeliveryStatus.DELIVERED and outcome.retry_in is None
    assert (record.attempt_no, record.started_at, record.duration_ms) == (3, STARTED, 250.0)
    assert (record.http_status, record.error, record.reason) == (204, None, None)
    assert record.next_attempt_at is None
    assert outcome.metrics == (
        CircuitState("ep_1", False),
        AttemptFinished(DeliveryStatus.DELIVERED, "ten_1", "ep_1", 0.25),
        DeliveredEndToEnd("ten_1", 3.25),
    )
    assert rng.getstate() == before  # no jitter drawn for a success


def test_a_failure_with_attempts_left_is_retried_after_jittered_backoff() -> None:
    outcome = judge(failed(500), attempted(attempt_no=2), rng=random.Random(11))
    expected = POLICY.next_delay(2, random.Random(11))  # 4 s stretched by 1.2..1.4
    assert 4 * 1.2 <= expected <= 4 * 1.4
    assert outcome.status is DeliveryStatus.FAILED
    assert outcome.retry_in == expected
    record = outcome.record
    assert record.next_attempt_at == NOW + timedelta(seconds=expected)
    assert (record.http_status, record.error, record.reason) == (500, "HTTP 500", "http_5xx")
    assert outcome.metrics == (
        CircuitState("ep_1", False),
        AttemptFinished(DeliveryStatus.FAILED, "ten_1", "ep_1", 0.25),
        Retried("ep_1", FailureReason.HTTP_5XX),
    )


def test_a_network_error_is_retried_with_its_reason() -> None:
    outcome = judge(failed(None))
    assert outcome.status is DeliveryStatus.FAILED
    assert (outcome.record.http_status, outcome.record.reason) == (None, "timeout")
    assert outcome.metrics[-1] == Retried("ep_1", FailureReason.TIMEOUT)


def test_a_failure_without_a_reason_counts_as_error() -> None:
    outcome = judge(AttemptResult(302, 0.01, error="HTTP 302 Found"))
    assert outcome.record.reason == "error"
    assert outcome.metrics[-1] == Retried("ep_1", FailureReason.ERROR)


@pytest.mark.parametrize(
    ("status", "header", "hint"),
    [
        (503, "120", 120.0),
        (429, "7", 7.0),
        (429, "Thu, 01 Jan 2026 12:01:03 GMT", 59.75),  # an HTTP-date, from NOW
        (503, "99999", 600.0),  # counted up to the policy's cap
    ],
)
def test_retry_after_on_429_and_503_may_lengthen_the_backoff(
    status: int, header: str, hint: float
) -> None:
    outcome = judge(failed(status, retry_after=header), rng=random.Random(3))
    backoff = POLICY.next_delay(1, random.Random(3))
    assert outcome.retry_in == pytest.approx(max(backoff, hint))
    assert outcome.record.next_attempt_at == NOW + timedelta(seconds=outcome.retry_in or 0)


@pytest.mark.parametrize("header", ["0", "Thu, 01 Jan 2026 11:00:00 GMT"])
def test_retry_after_never_shortens_the_backoff(header: str) -> None:
    outcome = judge(failed(429, retry_after=header), rng=random.Random(3))
    assert outcome.retry_in == POLICY.next_delay(1, random.Random(3))


def test_retry_after_is_ignored_on_other_statuses() -> None:
    outcome = judge(failed(500, retry_after="120"), rng=random.Random(5))
    assert outcome.retry_in == POLICY.next_delay(1, random.Random(5))


def test_the_last_attempt_failing_is_dead_with_its_reason() -> None:
    outcome = judge(failed(503, retry_after="5"), attempted(attempt_no=POLICY.max_attempts))
    record = outcome.record
    assert outcome.status is DeliveryStatus.DEAD and outcome.retry_in is None
    assert (record.reason, record.http_status, record.error) == ("http_5xx", 503, "HTTP 503")
    assert record.next_attempt_at is None
    assert outcome.metrics == (
        CircuitState("ep_1", False),
        AttemptFinished(DeliveryStatus.DEAD, "ten_1", "ep_1", 0.25),
        DeadLettered("ep_1", FailureReason.HTTP_5XX),
    )


def test_the_endpoints_max_attempts_overrides_the_policy() -> None:
    assert judge(failed(500), attempted(attempt_no=2, max_attempts=2)).status is DeliveryStatus.DEAD
    assert judge(failed(500), attempted(attempt_no=1, max_attempts=2)).status is (
        DeliveryStatus.FAILED
    )
    longer = judge(failed(500), attempted(attempt_no=8, max_attempts=10))
    assert longer.status is DeliveryStatus.FAILED


def test_a_deleted_endpoint_is_dead_without_a_request_or_a_latency() -> None:
    outcome = judge_endpoint_deleted(attempted(attempt_no=1))
    record = outcome.record
    assert outcome.status is DeliveryStatus.DEAD and outcome.retry_in is None
    assert (record.reason, record.error) == ("endpoint_deleted", "endpoint was deleted")
    assert (record.http_status, record.duration_ms, record.started_at) == (None, 0.0, STARTED)
    assert outcome.metrics == (
        AttemptFinished(DeliveryStatus.DEAD, "ten_1", "ep_1", None),
        DeadLettered("ep_1", FailureReason.ENDPOINT_DELETED),
    )


def test_a_disabled_endpoint_is_dead_without_a_request_or_a_latency() -> None:
    outcome = judge_endpoint_disabled(attempted(attempt_no=2), DisabledReason.GONE)
    record = outcome.record
    assert outcome.status is DeliveryStatus.DEAD and outcome.retry_in is None
    assert (record.reason, record.error) == ("endpoint_disabled", "endpoint is disabled (gone)")
    assert (record.attempt_no, record.http_status, record.duration_ms) == (2, None, 0.0)
    assert outcome.metrics == (
        AttemptFinished(DeliveryStatus.DEAD, "ten_1", "ep_1", None),
        DeadLettered("ep_1", FailureReason.ENDPOINT_DISABLED),
    )


def test_the_attempt_that_disables_its_endpoint_is_dead_with_its_answer_kept() -> None:
    """A 410 Gone would be retried as any 4xx; the endpoint is disabled instead, and the
    delivery goes to the DLQ at once with the answer it got."""
    gone = AttemptResult(
        410, 0.25, reason=FailureReason.HTTP_4XX, error="HTTP 410 Gone", response_excerpt=b"bye"
    )
    retried = judge(gone)
    assert retried.status is DeliveryStatus.FAILED  # what it would have been
    outcome = judge_endpoint_disabled(attempted(), DisabledReason.GONE, gone, breaker_open=False)
    record = outcome.record
    assert outcome.status is DeliveryStatus.DEAD and outcome.retry_in is None
    assert (record.http_status, record.reason) == (410, "endpoint_disabled")
    assert record.error == "HTTP 410 Gone; endpoint is disabled (gone)"
    assert (record.duration_ms, record.response_excerpt) == (250.0, "bye")
    assert outcome.metrics == (
        CircuitState("ep_1", False),
        AttemptFinished(DeliveryStatus.DEAD, "ten_1", "ep_1", 0.25),
        DeadLettered("ep_1", FailureReason.ENDPOINT_DISABLED),
    )


def test_the_breaker_verdict_becomes_the_circuit_gauge_through_its_transitions() -> None:
    """Failures open the breaker at its threshold, a success closes it: each attempt's
    outcome carries the state the breaker is in after it."""
    breaker = CircuitBreaker(failure_threshold=2, cooldown_seconds=10)

    def attempt(result: AttemptResult, at: float) -> CircuitState:
        assert breaker.allow(at)
        if result.ok:
            breaker.record_success()
        else:
            breaker.record_failure(at)
        state = judge(result, breaker_open=breaker.is_open).metrics[0]
        assert isinstance(state, CircuitState)
        return state

    assert attempt(failed(500), 0.0) == CircuitState("ep_1", False)
    assert attempt(failed(500), 1.0) == CircuitState("ep_1", True)  # threshold reached
    assert not breaker.allow(5.0)  # open: the service defers instead of attempting
    assert attempt(failed(500), 11.0) == CircuitState("ep_1", True)  # failed trial re-opens
    assert attempt(AttemptResult(200, 0.1), 21.5) == CircuitState("ep_1", False)


def test_attempt_result_ok_is_any_2xx() -> None:
    assert AttemptResult(200, 0.0).ok and AttemptResult(299, 0.0).ok
    assert not AttemptResult(300, 0.0).ok and not AttemptResult(None, 0.0).ok
