"""The soak's final accounting: from what the client was told, what the receiver got and
what the database says, which deliveries arrived, went dead, were lost or came twice (pure).

A *delivery* is one (event id, endpoint name) pair:

- **expected**: every accepted event (202) times the endpoints subscribed to its type;
- **delivered**: the receiver answered at least one request for it with a 2xx;
- **dead**: not delivered, and the database says ``dead`` (with its ``dead_reason``);
- **lost**: expected, neither delivered nor dead. Must be 0: a row the database calls
  ``delivered`` that the receiver never answered 2xx is lost too (a lie is a loss);
- **duplicates**: each 2xx answer for a delivery after its first one. Allowed (delivery is
  at least once), counted, and each attributed to the fault whose window holds the *first*
  arrival (what the pipeline forgot it had done happened then), else to the window holding
  the repeat, else "unexplained";
- **unexpected**: 2xx arrivals for pairs that were never expected (another tenant's, or an
  event the client was not told was accepted); **missing rows**: expected pairs without a
  delivery row in the database (the fan-out lost one at ingest).

A fault's window is ``[started - before, ended + after]`` seconds: a POST already under way
when a worker is killed started up to one delivery timeout earlier, and what a restart
breaks shows up in the seconds after the target is back.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Pair = tuple[str, str]  # (event id, endpoint name)

UNEXPLAINED = "unexplained"
MAX_LOST_LISTED = 20


@dataclass(frozen=True)
class Arrival:
    """One request the receiver got: for which delivery, when (seconds), its answer."""

    event_id: str
    endpoint: str
    at: float
    status: int | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Row:
    """One delivery row of the database, endpoint by name."""

    event_id: str
    endpoint: str
    status: str
    dead_reason: str | None


@dataclass(frozen=True)
class FaultWindow:
    label: str
    started: float
    ended: float


@dataclass
class Accounting:
    """The figures (module docstring); ``lost_pairs`` lists up to ``MAX_LOST_LISTED``."""

    expected: int = 0
    delivered: int = 0
    dead: int = 0
    dead_reasons: dict[str, int] = field(default_factory=dict)  # "endpoint: reason" → count
    lost: int = 0
    lost_pairs: list[Pair] = field(default_factory=list)
    lost_but_delivered_in_db: int = 0
    duplicates: int = 0
    duplicates_by_fault: dict[str, int] = field(default_factory=dict)
    unexpected: int = 0
    missing_rows: int = 0
    dead_but_received: int = 0


def expected_pairs(
    accepted: Iterable[tuple[str, str]], subscribers: Mapping[str, tuple[str, ...]]
) -> set[Pair]:
    """``accepted``: (event id, event type) of each accepted event; ``subscribers``: event
    type → endpoint names. Every (event id, endpoint) that must end delivered or dead."""
    return {
        (event_id, endpoint)
        for event_id, event_type in accepted
        for endpoint in subscribers.get(event_type, ())
    }


def attribute(
    at: float, windows: Iterable[FaultWindow], *, before: float, after: float
) -> str | None:
    """The label of the first window (in the order given) that holds ``at``, or None."""
    for window in windows:
        if window.started - before <= at <= window.ended + after:
            return window.label
    return None


def account(
    expected: set[Pair],
    arrivals: Iterable[Arrival],
    rows: Iterable[Row],
    windows: list[FaultWindow],
    *,
    before: float,
    after: float,
) -> Accounting:
    """The accounting of one soak (module docstring)."""
    successes: dict[Pair, list[float]] = defaultdict(list)
    for arrival in arrivals:
        if arrival.succeeded:
            successes[arrival.event_id, arrival.endpoint].append(arrival.at)
    by_pair = {(row.event_id, row.endpoint): row for row in rows}

    result = Accounting(expected=len(expected))
    reasons: Counter[str] = Counter()
    duplicates: Counter[str] = Counter()
    for pair in sorted(expected):
        row = by_pair.get(pair)
        if row is None:
            result.missing_rows += 1
        times = successes.get(pair)
        if times:
            result.delivered += 1
            if row is not None and row.status == "dead":
                result.dead_but_received += 1
        elif row is not None and row.status == "dead":
            result.dead += 1
            reasons[f"{pair[1]}: {row.dead_reason or 'unknown'}"] += 1
        else:
            result.lost += 1
            if row is not None and row.status == "delivered":
                result.lost_but_delivered_in_db += 1
            if len(result.lost_pairs) < MAX_LOST_LISTED:
                result.lost_pairs.append(pair)
    for pair, times in successes.items():
        if pair not in expected:
            result.unexpected += len(times)
            continue
        ordered = sorted(times)
        for repeat in ordered[1:]:
            label = attribute(ordered[0], windows, before=before, after=after)
            if label is None:
                label = attribute(repeat, windows, before=before, after=after)
            duplicates[label or UNEXPLAINED] += 1
    result.duplicates = sum(duplicates.values())
    result.duplicates_by_fault = dict(sorted(duplicates.items()))
    result.dead_reasons = dict(sorted(reasons.items()))
    return result
