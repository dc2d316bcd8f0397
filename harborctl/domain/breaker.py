"""Per-endpoint circuit breaker: stop hammering an endpoint that keeps failing.

::

    closed ──(failure_threshold consecutive failures)──▶ open
    open ──(cooldown_seconds elapsed, allow())──▶ half_open, one trial let through
    half_open ──trial succeeds──▶ closed        half_open ──trial fails──▶ open (fresh cooldown)

Time is passed in (monotonic seconds); the breaker never reads a clock.
"""

from __future__ import annotations

from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """One endpoint's breaker. Not thread-safe; meant for one event loop."""

    def __init__(self, failure_threshold: int = 5, cooldown_seconds: float = 30.0) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cooldown_seconds < 0:
            raise ValueError("cooldown_seconds must not be negative")
        self.failure_threshold = failure_threshold
        self.cooldown_seconds = cooldown_seconds
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_started_at: float | None = None

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self._state.value}, failures={self._failures}/"
            f"{self.failure_threshold}, cooldown={self.cooldown_seconds}s)"
        )

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def is_open(self) -> bool:
        """Open or half-open: the endpoint is not taking normal traffic (the gauge's value)."""
        return self._state is not BreakerState.CLOSED

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def allow(self, now: float) -> bool:
        """May a request go to the endpoint now? Granting a half-open trial is recorded.

        A trial that never reports back (its worker task was cancelled, the message
        was requeued) is presumed lost after another ``cooldown_seconds``, and a new
        trial is granted, so a breaker cannot stay half-open forever.
        """
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.OPEN:
            if now < self._opened_at + self.cooldown_seconds:
                return False
            self._state = BreakerState.HALF_OPEN
            self._trial_started_at = now
            return True
        # HALF_OPEN
        if (
            self._trial_started_at is not None
            and now < self._trial_started_at + self.cooldown_seconds
        ):
            return False
        self._trial_started_at = now
        return True

    def retry_after(self, now: float) -> float:
        """Seconds until ``allow`` could next return True (0.0 when it would now)."""
        if self._state is BreakerState.CLOSED:
            return 0.0
        if self._state is BreakerState.OPEN:
            start = self._opened_at
        elif self._trial_started_at is None:
            return 0.0
        else:
            start = self._trial_started_at
        return max(0.0, start + self.cooldown_seconds - now)

    def record_success(self) -> None:
        """The endpoint answered 2xx: close and forget past failures."""
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._trial_started_at = None

    def record_failure(self, now: float) -> None:
        """An attempt failed. Opens at the threshold; a failed trial re-opens at once.

        Failures reported while already open (requests that were in flight when the
        breaker tripped) do not extend the cooldown.
        """
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or (
            self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._state = BreakerState.OPEN
            self._opened_at = now
            self._trial_started_at = None
