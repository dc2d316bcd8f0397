"""Retry policy: exponential backoff with jitter, and when to give up.

The schedule is ``base * factor^(attempt-1)`` capped at ``cap_seconds`` (1, 4, 16, 64, 256,
600, 600 s by default), then stretched by a random ``1 + u``, ``u in [jitter_min, jitter_max]``.

Decision on the cap: the cap bounds the *nominal* delay and jitter is applied on top, so a
real delay is at most ``cap_seconds * (1 + jitter_max)`` (840 s by default). Capping after
jitter would make every delivery stuck at the cap retry at exactly the same offset, which is
the synchronised retry storm jitter exists to prevent.

Everything here is pure: the random source and the clock are passed in.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from harborctl.errors import ValidationError

#: Statuses whose ``Retry-After`` header is honoured instead of our own backoff.
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What to do after an attempt: retry after ``delay`` seconds, or stop."""

    retry: bool
    delay: float

    @property
    def final(self) -> bool:
        return not self.retry


FINAL = RetryDecision(retry=False, delay=0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 1.0
    factor: float = 4.0
    cap_seconds: float = 600.0
    max_attempts: int = 8
    jitter_min: float = 0.2
    jitter_max: float = 0.4

    def __post_init__(self) -> None:
        if not self.base_seconds > 0:
            raise ValidationError("base_seconds", "must be greater than 0")
        if not self.factor >= 1:
            raise ValidationError("factor", "must be at least 1")
        if not self.cap_seconds > 0:
            raise ValidationError("cap_seconds", "must be greater than 0")
        if self.max_attempts < 1:
            raise ValidationError("max_attempts", "must be at least 1")
        if not 0 <= self.jitter_min <= self.jitter_max:
            raise ValidationError("jitter_min", "need 0 <= jitter_min <= jitter_max")

    @property
    def max_delay(self) -> float:
        """The longest delay ``next_delay`` can return."""
        return self.cap_seconds * (1 + self.jitter_max)

    def with_max_attempts(self, max_attempts: int | None) -> RetryPolicy:
        """This policy with a per-endpoint override; ``None`` keeps the default."""
        if max_attempts is None or max_attempts == self.max_attempts:
            return self
        return replace(self, max_attempts=max_attempts)

    def nominal_delay(self, attempt: int) -> float:
        """Delay before the next try after failed attempt number ``attempt`` (1-based)."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        try:
            delay = self.base_seconds * self.factor ** (attempt - 1)
        except OverflowError:  # huge attempt numbers: far past the cap anyway
            return self.cap_seconds
        return min(delay, self.cap_seconds)

    def next_delay(self, attempt: int, rng: random.Random) -> float:
        """Nominal delay stretched by ``1 + u``, u uniform in [jitter_min, jitter_max]."""
        u = rng.uniform(self.jitter_min, self.jitter_max)
        return self.nominal_delay(attempt) * (1 + u)

    def decide(
        self,
        attempt: int,
        http_status: int | None,
        retry_after: float | None,
        rng: random.Random,
    ) -> RetryDecision:
        """Retry or give up after attempt number ``attempt`` (1-based) ended.

        ``http_status`` is None for network errors (timeout, connection refused, ...).
        A 2xx needs no retry. Any other outcome is retried until ``max_attempts``
        attempts have been made, after the jittered backoff of :meth:`next_delay`.

        On 429/503 a ``Retry-After`` (seconds, see :func:`parse_retry_after`; RFC 9110
        §10.2.3) may lengthen the wait, never shorten it: the delay is the larger of the
        backoff and the hint, the hint counted up to ``cap_seconds``. A server answering
        ``Retry-After: 0`` therefore cannot make a delivery spend its attempts in seconds.
        """
        if http_status is not None and 200 <= http_status < 300:
            return FINAL
        if attempt >= self.max_attempts:
            return FINAL
        backoff = self.next_delay(attempt, rng)
        if (
            http_status in RETRY_AFTER_STATUSES
            and retry_after is not None
            and not math.isnan(retry_after)
        ):
            return RetryDecision(retry=True, delay=max(backoff, min(retry_after, self.cap_seconds)))
        return RetryDecision(retry=True, delay=backoff)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 §10.2.3), or None.

    Accepts delta-seconds (``"120"``) and an HTTP-date (``"Wed, 21 Oct 2015 07:28:00
    GMT"``); a date in the past gives 0.0. Anything else (empty, negative, fractional,
    garbage) gives None so the caller falls back to its own backoff. A naive ``now`` is
    taken as UTC.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" zone: RFC 5322 says UTC with unknown local zone
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
