from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from harborctl.domain.retry import RetryDecision, RetryPolicy, parse_retry_after
from harborctl.errors import ValidationError

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_default_policy_values() -> None:
    p = RetryPolicy()
    assert (p.base_seconds, p.factor, p.cap_seconds, p.max_attempts) == (1.0, 4.0, 600.0, 8)
    assert (p.jitter_min, p.jitter_max) == (0.2, 0.4)


def test_default_nominal_schedule() -> None:
    p = RetryPolicy()
    assert [p.nominal_delay(a) for a in range(1, 9)] == [1, 4, 16, 64, 256, 600, 600, 600]


def test_nominal_delay_huge_attempt_is_capped_not_overflow() -> None:
    assert RetryPolicy().nominal_delay(10_000) == 600.0


def test_nominal_delay_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().nominal_delay(0)


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6, 7])
def test_jitter_bounds_over_many_seeded_draws(attempt: int) -> None:
    p = RetryPolicy()
    rng = random.Random(1234 + attempt)
    nominal = p.nominal_delay(attempt)
    delays = [p.next_delay(attempt, rng) for _ in range(2000)]
    assert all(nominal * 1.2 <= d <= nominal * 1.4 for d in delays)
    assert len(set(delays)) > 1000
    # Both ends of the window are actually reached (within 1%), not a narrow band.
    assert min(delays) < nominal * 1.202
    assert max(delays) > nominal * 1.398


def test_jitter_is_deterministic_for_a_seed() -> None:
    p = RetryPolicy()
    a = [p.next_delay(3, random.Random(7)) for _ in range(3)]
    b = [p.next_delay(3, random.Random(7)) for _ in range(3)]
    assert a == b


def test_jitter_applies_on_top_of_cap() -> None:
    p = RetryPolicy()
    rng = random.Random(99)
    delays = [p.next_delay(7, rng) for _ in range(500)]
    assert all(720.0 <= d <= 840.0 for d in delays)
    assert p.max_delay == pytest.approx(840.0)
    assert len(set(delays)) > 1


def test_custom_policy_cap() -> None:
    p = RetryPolicy(base_seconds=2.0, factor=2.0, cap_seconds=10.0, jitter_min=0, jitter_max=0)
    assert [p.nominal_delay(a) for a in range(1, 6)] == [2, 4, 8, 10, 10]
    assert p.next_delay(5, random.Random(0)) == 10.0


def test_decide_retries_until_max_attempts() -> None:
    p = RetryPolicy()
    rng = random.Random(0)
    for attempt in range(1, 8):
        d = p.decide(attempt, 500, None, rng)
        assert d.retry and not d.final
        nominal = p.nominal_delay(attempt)
        assert nominal * 1.2 <= d.delay <= nominal * 1.4
    final = p.decide(8, 500, None, rng)
    assert final == RetryDecision(retry=False, delay=0.0)
    assert final.final
    assert not p.decide(9, None, None, rng).retry


@pytest.mark.parametrize("status", [None, 400, 401, 404, 408, 410, 429, 500, 502, 503, 301])
def test_every_non_2xx_and_network_error_is_retryable(status: int | None) -> None:
    assert RetryPolicy().decide(1, status, None, random.Random(0)).retry


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_2xx_needs_no_retry(status: int) -> None:
    assert RetryPolicy().decide(1, status, None, random.Random(0)) == RetryDecision(False, 0.0)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_honoured_on_429_and_503(status: int) -> None:
    d = RetryPolicy().decide(1, status, 42.0, random.Random(0))
    assert d == RetryDecision(retry=True, delay=42.0)


@pytest.mark.parametrize("status", [500, 502, 404, None])
def test_retry_after_ignored_on_other_statuses(status: int | None) -> None:
    d = RetryPolicy().decide(1, status, 42.0, random.Random(0))
    assert d.retry
    assert 1.2 <= d.delay <= 1.4


def test_retry_after_is_capped_by_the_cap() -> None:
    p = RetryPolicy()
    assert p.decide(1, 429, 3600.0, random.Random(0)).delay == 600.0
    assert p.decide(1, 503, float("inf"), random.Random(0)).delay == 600.0


@pytest.mark.parametrize("hint", [0.0, -5.0, 0.5])
def test_retry_after_never_shortens_the_backoff(hint: float) -> None:
    """A receiver answering 429 with ``Retry-After: 0`` used to burn all 8 attempts in
    about 90 seconds; the hint may only lengthen the computed backoff."""
    p = RetryPolicy()
    assert 1.2 <= p.decide(1, 429, hint, random.Random(0)).delay <= 1.4
    assert 4 * 1.2 <= p.decide(2, 503, hint, random.Random(0)).delay <= 4 * 1.4
    schedule = [p.decide(n, 429, hint, random.Random(n)).delay for n in range(1, 8)]
    assert sum(schedule) > 1000  # seven waits of the default backoff: ~1.2 s ... ~600 s


def test_a_retry_after_longer_than_the_backoff_wins() -> None:
    p = RetryPolicy()
    assert p.decide(3, 429, 120.0, random.Random(0)).delay == 120.0
    assert 256 * 1.2 <= p.decide(5, 429, 120.0, random.Random(0)).delay <= 256 * 1.4


def test_retry_after_nan_falls_back_to_backoff() -> None:
    d = RetryPolicy().decide(2, 429, float("nan"), random.Random(0))
    assert 4 * 1.2 <= d.delay <= 4 * 1.4


def test_retry_after_does_not_extend_past_max_attempts() -> None:
    assert not RetryPolicy().decide(8, 429, 5.0, random.Random(0)).retry


def test_with_max_attempts_override() -> None:
    p = RetryPolicy()
    assert p.with_max_attempts(None) is p
    three = p.with_max_attempts(3)
    assert three.max_attempts == 3 and p.max_attempts == 8
    assert three.decide(2, 500, None, random.Random(0)).retry
    assert not three.decide(3, 500, None, random.Random(0)).retry
    assert three.nominal_delay(2) == p.nominal_delay(2)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"base_seconds": 0}, "base_seconds"),
        ({"factor": 0.5}, "factor"),
        ({"cap_seconds": -1}, "cap_seconds"),
        ({"jitter_min": 0.5, "jitter_max": 0.4}, "jitter_min"),
        ({"jitter_min": -0.1}, "jitter_min"),
    ],
)
def test_invalid_policy_rejected(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_with_max_attempts_validates() -> None:
    with pytest.raises(ValidationError):
        RetryPolicy().with_max_attempts(0)


# --- parse_retry_after ---------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [("120", 120.0), ("0", 0.0), (" 7 ", 7.0)])
def test_parse_retry_after_delta_seconds(value: str, expected: float) -> None:
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_http_date() -> None:
    assert parse_retry_after("Fri, 01 Mar 2024 12:01:30 GMT", NOW) == 90.0


def test_parse_retry_after_http_date_with_offset() -> None:
    # 13:00:10 at +01:00 is 12:00:10 UTC.
    assert parse_retry_after("Fri, 01 Mar 2024 13:00:10 +0100", NOW) == 10.0


def test_parse_retry_after_http_date_in_past_is_zero() -> None:
    assert parse_retry_after("Fri, 01 Mar 2024 11:00:00 GMT", NOW) == 0.0


def test_parse_retry_after_naive_now_is_utc() -> None:
    naive = NOW.replace(tzinfo=None) - timedelta(seconds=30)
    assert parse_retry_after("Fri, 01 Mar 2024 12:00:00 GMT", naive) == 30.0


@pytest.mark.parametrize(
    "value", [None, "", "   ", "soon", "-5", "1.5", "1e3", "Fri, 99 Foo 2024", "²", "12 monkeys"]
)
def test_parse_retry_after_garbage_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None
