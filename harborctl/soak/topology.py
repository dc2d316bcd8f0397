"""The soak's endpoints, event types and who subscribes to what (pure).

Every endpoint is a path on the one recording receiver (``harborctl.receiver``), so one
process stands for healthy, flaky, slow and hanging webhook receivers alike::

    endpoint   path                      answers                              gets
    healthy-1  /soak/healthy-1/ok        200                                  order, ping
    healthy-2  /soak/healthy-2/ok        200                                  invoice
    flaky      /soak/flaky/flaky/1       500 to each delivery's first try     invoice
    slow       /soak/slow/slow/0.2       200 after 0.2 s                      invoice
    hang       /soak/hang/hang           never (the worker's timeout ends it) ping

Event ``n`` is a ``soak.ping`` every ``PING_EVERY`` events (they reach the hanging endpoint,
whose deliveries hold a worker slot until the timeout, so they stay rare), else ``soak.order``
for odd ``n`` and ``soak.invoice`` for even ``n``: fan-out 1, 3 and 2.

The hanging endpoint has ``max_attempts`` 2 and no circuit breaker: its deliveries are meant
to go dead with reason ``timeout``, which the report shows under "dead". The flaky one has no
circuit breaker either: half its attempts fail by design, and an open circuit would only
defer its deliveries (the breaker has tests of its own). The others allow
``MAX_ATTEMPTS`` attempts, enough to outlast every fault of the schedule (a receiver outage
is the longest) with the soak's short retry delays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ORDER = "soak.order"
INVOICE = "soak.invoice"
PING = "soak.ping"
EVENT_TYPES = (ORDER, INVOICE, PING)
PING_EVERY = 40
MAX_ATTEMPTS = 15
HANG_MAX_ATTEMPTS = 2
NO_BREAKER = 1_000_000  # the API's maximum breaker threshold: never opens during a soak
RATE_LIMIT_RPS = 10_000  # the API's maximum: the soak must not be throttled by design

Outcome = Literal["delivered", "dead"]


@dataclass(frozen=True)
class SoakEndpoint:
    """One endpoint: its name in the report, its path on the receiver, the event types it is
    subscribed to, and how its deliveries are meant to end."""

    name: str
    path: str
    answers: str
    event_types: tuple[str, ...]
    outcome: Outcome = "delivered"
    max_attempts: int = MAX_ATTEMPTS
    breaker_failure_threshold: int | None = None


ENDPOINTS: tuple[SoakEndpoint, ...] = (
    SoakEndpoint("healthy-1", "/soak/healthy-1/ok", "200", (ORDER, PING)),
    SoakEndpoint("healthy-2", "/soak/healthy-2/ok", "200", (INVOICE,)),
    SoakEndpoint(
        "flaky",
        "/soak/flaky/flaky/1",
        "500 to each delivery's first try",
        (INVOICE,),
        breaker_failure_threshold=NO_BREAKER,
    ),
    SoakEndpoint("slow", "/soak/slow/slow/0.2", "200 after 0.2 s", (INVOICE,)),
    SoakEndpoint(
        "hang",
        "/soak/hang/hang",
        "never (times out)",
        (PING,),
        outcome="dead",
        max_attempts=HANG_MAX_ATTEMPTS,
        breaker_failure_threshold=NO_BREAKER,
    ),
)


def event_type_of(n: int) -> str:
    """The event type of the soak's ``n``-th event (0-based; module docstring)."""
    if n % PING_EVERY == 0:
        return PING
    return ORDER if n % 2 else INVOICE


def subscribers(event_type: str) -> tuple[str, ...]:
    """The names of the endpoints subscribed to ``event_type``, in ``ENDPOINTS`` order."""
    return tuple(e.name for e in ENDPOINTS if event_type in e.event_types)


def endpoint_by_path() -> dict[str, str]:
    """Receiver path → endpoint name."""
    return {e.path: e.name for e in ENDPOINTS}
