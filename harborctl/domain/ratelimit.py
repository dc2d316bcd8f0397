"""Token bucket rate limiter for per-endpoint ``rate_limit_rps``.

Time is passed in (monotonic seconds). The bucket starts full with ``burst`` tokens and
refills at ``rate`` tokens per second up to ``burst``.
"""

from __future__ import annotations

# Float slack so that waiting exactly the returned time always succeeds.
_EPSILON = 1e-9


class TokenBucket:
    """Not thread-safe; meant for one event loop."""

    def __init__(self, rate: float, burst: int) -> None:
        if not rate > 0:
            raise ValueError("rate must be greater than 0")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate}, burst={self.burst}, tokens={self._tokens:.3f})"

    def _refill(self, now: float) -> None:
        if self._last is None:
            self._last = now
            return
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now
        # now <= last: a clock that went backwards refills nothing, and ``last`` stays at the
        # latest time seen so the interval is not counted twice when the clock catches up.

    def available(self, now: float) -> float:
        """Tokens available at ``now`` (refills as a side effect, takes nothing)."""
        self._refill(now)
        return self._tokens

    def try_acquire(self, now: float, tokens: float = 1.0) -> float:
        """Take ``tokens`` and return 0.0, or take nothing and return the seconds to wait."""
        if not 0 < tokens <= self.burst:
            raise ValueError(f"tokens must be in (0, {self.burst}], got {tokens}")
        self._refill(now)
        if self._tokens + _EPSILON >= tokens:
            self._tokens = max(0.0, self._tokens - tokens)
            return 0.0
        return (tokens - self._tokens) / self.rate
