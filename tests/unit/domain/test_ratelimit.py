from __future__ import annotations

import pytest

from harborctl.domain.ratelimit import TokenBucket


def test_burst_then_refusal_with_right_wait() -> None:
    b = TokenBucket(rate=2.0, burst=5)
    assert [b.try_acquire(100.0) for _ in range(5)] == [0.0] * 5
    assert b.try_acquire(100.0) == pytest.approx(0.5)
    # Refusal takes nothing: asking again gives the same answer.
    assert b.try_acquire(100.0) == pytest.approx(0.5)
    assert b.try_acquire(100.2) == pytest.approx(0.3)


def test_waiting_the_returned_time_succeeds() -> None:
    b = TokenBucket(rate=3.0, burst=1)
    now = 10.0
    assert b.try_acquire(now) == 0.0
    for _ in range(50):
        wait = b.try_acquire(now)
        assert wait > 0
        now += wait
        assert b.try_acquire(now) == 0.0


def test_refill_rate_sustained() -> None:
    b = TokenBucket(rate=10.0, burst=1)
    granted = 0
    now = 0.0
    while now < 10.0:
        if b.try_acquire(now) == 0.0:
            granted += 1
        now += 0.01
    # 1 initial token + 10/s over ~10 s.
    assert 99 <= granted <= 102


def test_refill_never_exceeds_burst() -> None:
    b = TokenBucket(rate=100.0, burst=3)
    b.try_acquire(0.0)
    assert b.available(1000.0) == 3.0
    assert [b.try_acquire(1000.0) for _ in range(3)] == [0.0] * 3
    assert b.try_acquire(1000.0) > 0


def test_fractional_rate() -> None:
    b = TokenBucket(rate=0.5, burst=1)
    assert b.try_acquire(0.0) == 0.0
    assert b.try_acquire(0.0) == pytest.approx(2.0)
    assert b.try_acquire(1.0) == pytest.approx(1.0)
    assert b.try_acquire(2.0) == 0.0


def test_multi_token_acquire() -> None:
    b = TokenBucket(rate=1.0, burst=4)
    assert b.try_acquire(0.0, tokens=3) == 0.0
    assert b.try_acquire(0.0, tokens=2) == pytest.approx(1.0)
    assert b.available(0.0) == pytest.approx(1.0)


def test_clock_going_backwards_refills_nothing() -> None:
    b = TokenBucket(rate=1.0, burst=2)
    assert b.try_acquire(100.0) == 0.0
    assert b.try_acquire(100.0) == 0.0
    assert b.try_acquire(50.0) == pytest.approx(1.0)
    assert b.available(50.0) == 0.0
    # Time from 50 back up to 100 is not counted as refill; only time after 100 is.
    assert b.try_acquire(100.5) == pytest.approx(0.5)
    assert b.try_acquire(101.0) == 0.0


@pytest.mark.parametrize("tokens", [0.0, -1.0, 6.0])
def test_invalid_token_request(tokens: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=1.0, burst=5).try_acquire(0.0, tokens=tokens)


@pytest.mark.parametrize("rate, burst", [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_invalid_configuration(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)
