"""Per-endpoint protection held in one worker's memory: a circuit breaker and a token
bucket for each endpoint, made on first use (see breaker.py and ratelimit.py)."""

from __future__ import annotations

from harborctl.domain.breaker import CircuitBreaker
from harborctl.domain.ratelimit import TokenBucket


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

    def breaker(self, endpoint_id: str, failure_threshold: int | None = None) -> CircuitBreaker:
        """The endpoint's breaker, opening after ``failure_threshold`` consecutive failures
        (the default when None); a changed threshold starts a fresh breaker."""
        threshold = failure_threshold or self.failure_threshold
        found = self.breakers.get(endpoint_id)
        if found is None or found.failure_threshold != threshold:
            found = CircuitBreaker(threshold, self.cooldown_seconds)
            self.breakers[endpoint_id] = found
        return found

    def bucket(self, endpoint_id: str, rps: float | None) -> TokenBucket:
        """The endpoint's bucket at ``rps`` (the default when None); a changed rate starts a
        fresh bucket."""
        rate = rps or self.default_rps
        found = self.buckets.get(endpoint_id)
        if found is None or found.rate != rate:
            found = TokenBucket(rate, max(self.burst, 1))
            self.buckets[endpoint_id] = found
        return found
