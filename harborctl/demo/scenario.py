"""The demo's tenant: five endpoints on a local receiver, each with its own behaviour, and the
mix of events published to them (pure: no I/O; the random source is passed in).

::

    endpoint      receiver path (harborctl.receiver.behaviours)   subscribed to
    healthy       ok                                              every event type
    flaky         fail/3: its first three requests fail (500)     order.created, order.paid
    slow          slow/0.8: answers after 0.8 s                   customer.updated
    rate-limited  fail/3?status=429&retry_after=2: 429 with       order.paid
                  Retry-After: 2 three times, then 200
    dead          status/500: always 500; one attempt per         every event type
                  delivery and no circuit breaker, so every
                  delivery dies (until it heals: switched to ok)

Events are published order.created : order.paid : customer.updated = 2 : 1 : 1, so four events
make 13 deliveries of which 4 go to the dead endpoint: about 31% of final outcomes are dead
while it is dead, twice the 14.4% at which the demo profile's fast burn-rate alert fires.
The flaky and rate-limited endpoints fail fewer times in a row than a circuit breaker needs
(5 by default) and recover, so their deliveries land after a retry or two.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

# the alert the demo drives, and the label the demo profile puts on every alert
DRIVEN_ALERT = "HarborHookErrorBudgetBurnFast"
DEMO_PROFILE_MATCHER = 'profile="demo"'
# the Alertmanager receiver the demo adds (with `alerts set-webhook`'s logic), then removes
DEMO_RECEIVER = "harborhook-demo"
# where that receiver posts: a path of the demo's own alert recorder
RECORDER_PATH = "/alerts/ok"
HEALED_BEHAVIOUR = "/ok"
NO_BREAKER = 1_000_000  # the highest breaker_failure_threshold the API takes

DEFAULT_RATE = 4.0  # events per second
DEFAULT_DURATION = 30.0  # seconds of traffic before the demo heals the dead endpoint

EVENT_MIX: tuple[tuple[str, int], ...] = (
    ("order.created", 2),
    ("order.paid", 1),
    ("customer.updated", 1),
)
ALL_TYPES = tuple(name for name, _ in EVENT_MIX)


@dataclass(frozen=True)
class DemoEndpoint:
    """One endpoint of the demo tenant and what its receiver path makes it do."""

    key: str
    behaviour: str  # the receiver path's behaviour, options included: fail/3?status=429
    what: str
    event_types: tuple[str, ...]
    max_attempts: int | None = None
    breaker_failure_threshold: int | None = None

    @property
    def path(self) -> str:
        """The path the receiver counts and records this endpoint's requests under."""
        return f"/demo/{self.key}/{self.behaviour.partition('?')[0]}"

    def url(self, receiver_url: str) -> str:
        """The endpoint's URL on the receiver at ``receiver_url``, options included."""
        _, _, query = self.behaviour.partition("?")
        return f"{receiver_url.rstrip('/')}{self.path}" + (f"?{query}" if query else "")


ENDPOINTS: tuple[DemoEndpoint, ...] = (
    DemoEndpoint("healthy", "ok", "answers 200", ALL_TYPES),
    DemoEndpoint("flaky", "fail/3", "its first 3 requests fail (500), then 200", ALL_TYPES[:2]),
    DemoEndpoint("slow", "slow/0.8", "answers 200 after 0.8 s", ("customer.updated",)),
    DemoEndpoint(
        "rate-limited",
        "fail/3?status=429&retry_after=2",
        "429 with Retry-After: 2 three times, then 200",
        ("order.paid",),
    ),
    DemoEndpoint(
        "dead",
        "status/500",
        "always 500 (one attempt, no circuit breaker) until it heals",
        ALL_TYPES,
        max_attempts=1,
        breaker_failure_threshold=NO_BREAKER,
    ),
)
DEAD = "dead"
FLAKY = "flaky"


def endpoint(key: str) -> DemoEndpoint:
    """The demo endpoint called ``key``; KeyError for another name."""
    for candidate in ENDPOINTS:
        if candidate.key == key:
            return candidate
    raise KeyError(key)


def fan_out(event_type: str) -> list[DemoEndpoint]:
    """The endpoints an event of ``event_type`` is delivered to."""
    return [e for e in ENDPOINTS if event_type in e.event_types]


def next_event_type(rng: random.Random) -> str:
    """One event type drawn from the mix."""
    names = [name for name, _ in EVENT_MIX]
    weights = [weight for _, weight in EVENT_MIX]
    return rng.choices(names, weights)[0]


def payload(number: int, event_type: str, rng: random.Random) -> bytes:
    """The JSON body of the demo's ``number``-th event: orders with a few line items (money as
    exact decimals), customers with a tier; sizes vary."""
    if event_type.startswith("order."):
        items = [
            {"sku": f"SKU-{rng.randint(100, 999)}", "quantity": rng.randint(1, 5)}
            for _ in range(rng.randint(1, 6))
        ]
        body: dict[str, object] = {
            "order_id": f"ord_{number:06d}",
            "status": event_type.split(".", 1)[1],
            "items": items,
            "currency": "EUR",
        }
        amount = f"{rng.randint(500, 250_000) / 100:.2f}"
        encoded = json.dumps(body, separators=(",", ":"))
        return (encoded[:-1] + f',"amount":{amount}}}').encode()  # 12.50, not 12.5
    body = {
        "customer_id": f"cus_{rng.randint(1, 500):04d}",
        "email": f"customer{number}@example.com",
        "tier": rng.choice(["free", "team", "enterprise"]),
    }
    return json.dumps(body, separators=(",", ":")).encode()
