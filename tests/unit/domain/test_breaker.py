from __future__ import annotations

import pytest

from harborctl.domain.breaker import BreakerState, CircuitBreaker


def state(b: CircuitBreaker) -> BreakerState:
    """Read the state through a call so mypy does not narrow it across transitions."""
    return b.state


def trip(b: CircuitBreaker, now: float) -> None:
    for _ in range(b.failure_threshold):
        assert b.allow(now)
        b.record_failure(now)


def test_defaults_and_initial_state() -> None:
    b = CircuitBreaker()
    assert (b.failure_threshold, b.cooldown_seconds) == (5, 30.0)
    assert state(b) is BreakerState.CLOSED
    assert not b.is_open
    assert b.allow(0.0)
    assert b.retry_after(0.0) == 0.0


def test_opens_exactly_at_threshold() -> None:
    b = CircuitBreaker(failure_threshold=3, cooldown_seconds=10)
    b.record_failure(1.0)
    b.record_failure(1.0)
    assert state(b) is BreakerState.CLOSED and b.allow(1.0)
    b.record_failure(2.0)
    assert state(b) is BreakerState.OPEN
    assert b.is_open
    assert not b.allow(2.0)
    assert b.retry_after(5.0) == pytest.approx(7.0)


def test_success_resets_consecutive_counter() -> None:
    b = CircuitBreaker(failure_threshold=3)
    b.record_failure(0)
    b.record_failure(0)
    b.record_success()
    assert b.consecutive_failures == 0
    b.record_failure(0)
    b.record_failure(0)
    assert state(b) is BreakerState.CLOSED


def test_full_state_machine_walk() -> None:
    b = CircuitBreaker(failure_threshold=5, cooldown_seconds=30)
    trip(b, now=100.0)
    assert state(b) is BreakerState.OPEN

    # Open: refuses until the cooldown has passed.
    assert not b.allow(100.0)
    assert not b.allow(129.9)
    assert b.retry_after(110.0) == pytest.approx(20.0)

    # Cooldown passed: exactly one trial, then half-open refuses.
    assert b.allow(130.0)
    assert state(b) is BreakerState.HALF_OPEN
    assert b.is_open
    assert not b.allow(130.0)
    assert not b.allow(131.0)
    assert b.retry_after(131.0) > 0

    # Trial fails: re-open immediately with a fresh cooldown from the failure time.
    b.record_failure(132.0)
    assert state(b) is BreakerState.OPEN
    assert not b.allow(150.0)
    assert b.retry_after(150.0) == pytest.approx(12.0)
    assert not b.allow(161.9)

    # Second trial succeeds: closed, counters reset, traffic flows.
    assert b.allow(162.0)
    assert state(b) is BreakerState.HALF_OPEN
    b.record_success()
    assert state(b) is BreakerState.CLOSED
    assert not b.is_open
    assert b.consecutive_failures == 0
    assert all(b.allow(163.0) for _ in range(10))

    # And it takes a full threshold of failures to open again.
    for _ in range(4):
        b.record_failure(170.0)
    assert state(b) is BreakerState.CLOSED
    b.record_failure(170.0)
    assert state(b) is BreakerState.OPEN


def test_single_failure_in_half_open_reopens() -> None:
    b = CircuitBreaker(failure_threshold=5, cooldown_seconds=1)
    trip(b, 0.0)
    assert b.allow(1.0)
    b.record_failure(1.0)
    assert state(b) is BreakerState.OPEN


def test_late_failures_while_open_do_not_extend_cooldown() -> None:
    b = CircuitBreaker(failure_threshold=2, cooldown_seconds=10)
    trip(b, 0.0)
    b.record_failure(5.0)  # a request that was already in flight
    assert b.retry_after(5.0) == pytest.approx(5.0)
    assert b.allow(10.0)


def test_lost_trial_is_replaced_after_another_cooldown() -> None:
    b = CircuitBreaker(failure_threshold=1, cooldown_seconds=10)
    trip(b, 0.0)
    assert b.allow(10.0)  # trial granted, never reports back
    assert not b.allow(19.9)
    assert b.retry_after(15.0) == pytest.approx(5.0)
    assert b.allow(20.0)
    assert not b.allow(20.0)


def test_zero_cooldown() -> None:
    b = CircuitBreaker(failure_threshold=1, cooldown_seconds=0)
    b.record_failure(0.0)
    assert state(b) is BreakerState.OPEN
    assert b.allow(0.0)
    assert state(b) is BreakerState.HALF_OPEN


def test_state_values_for_labels() -> None:
    assert [s.value for s in BreakerState] == ["closed", "open", "half_open"]


@pytest.mark.parametrize("kwargs", [{"failure_threshold": 0}, {"cooldown_seconds": -1}])
def test_invalid_configuration(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]


def test_an_endpoint_can_have_its_own_threshold() -> None:
    from harborctl.domain.guards import EndpointGuards

    guards = EndpointGuards(default_rps=10, burst=1, failure_threshold=5, cooldown_seconds=30)
    assert guards.breaker("e1").failure_threshold == 5
    own = guards.breaker("e2", 1000)
    assert own.failure_threshold == 1000
    for _ in range(999):
        own.record_failure(0.0)
    assert guards.breaker("e2", 1000) is own and own.allow(0.0)  # still closed
    assert guards.breaker("e1", None) is guards.breaker("e1")  # None: the worker's
    changed = guards.breaker("e2", 3)  # a changed threshold starts afresh
    assert changed is not own and changed.failure_threshold == 3
    assert changed.consecutive_failures == 0
