"""The demo's live summary: published, delivered, retrying, dead, p99, backlog.

Counts are the database's (``EventRepository.count_by_status``: the deliveries not yet
delivered, by tenant, endpoint and status; delivered is what is left of every delivery the
demo's publishes and replays made); p99 is publish to first 2xx at the demo's receiver, per
delivery; the backlog is every delivery of the stack still waiting (queued, retrying, in
flight), the demo's or not. Pure: the run reads the database and the receiver.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from harborctl.domain.models import DeliveryStatus

WAITING = (DeliveryStatus.QUEUED.value, DeliveryStatus.INFLIGHT.value)
RETRYING = DeliveryStatus.FAILED.value
DEAD = DeliveryStatus.DEAD.value


@dataclass(frozen=True)
class Summary:
    published: int  # events accepted
    deliveries: int  # deliveries made by them and by replays
    delivered: int
    retrying: int  # failed, waiting for their next attempt
    dead: int  # dead and not replayed (the DLQ)
    waiting: int  # queued or being attempted
    p99_seconds: float | None  # publish -> first 2xx at the receiver
    backlog: int  # the whole stack's deliveries waiting (queued, retrying, in flight)
    publish_errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["p99_seconds"] = None if self.p99_seconds is None else round(self.p99_seconds, 3)
        return data


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0 < q <= 1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


def summarize(
    *,
    tenant_id: str,
    published: int,
    deliveries: int,
    counts: Mapping[tuple[str, str, str], int],
    latencies: Sequence[float],
    replayed_dead: int = 0,
    publish_errors: int = 0,
) -> Summary:
    """``counts``: (tenant, endpoint, status) → deliveries not yet delivered (every tenant);
    ``replayed_dead``: dead deliveries of the demo that were replayed (still ``dead`` rows,
    no longer in the DLQ)."""
    mine: dict[str, int] = {}
    backlog = 0
    for (tenant, _, status), count in counts.items():
        if status != DEAD:
            backlog += count
        if tenant == tenant_id:
            mine[status] = mine.get(status, 0) + count
    waiting = sum(mine.get(s, 0) for s in WAITING)
    retrying = mine.get(RETRYING, 0)
    dead = mine.get(DEAD, 0)
    return Summary(
        published=published,
        deliveries=deliveries,
        delivered=max(deliveries - waiting - retrying - dead, 0),
        retrying=retrying,
        dead=max(dead - replayed_dead, 0),
        waiting=waiting,
        p99_seconds=percentile(latencies, 0.99),
        backlog=backlog,
        publish_errors=publish_errors,
    )


def first_success_latencies(
    records: Iterable[Mapping[str, Any]],
    published_at: Mapping[str, datetime],
    paths: Iterable[str],
) -> dict[tuple[str, str], float]:
    """(path, event id) → seconds from publish to its first 2xx at the receiver, for records
    at ``paths`` (the webhook-id header is the event id)."""
    wanted = set(paths)
    found: dict[tuple[str, str], float] = {}
    for record in records:
        status = record.get("status")
        event_id = record.get("webhook_id")
        if record.get("path") not in wanted or not event_id or not status:
            continue
        if not 200 <= int(status) < 300 or event_id not in published_at:
            continue
        key = (str(record["path"]), str(event_id))
        if key in found:
            continue
        arrived = datetime.fromisoformat(str(record["received_at"]))
        found[key] = max((arrived - published_at[event_id]).total_seconds(), 0.0)
    return found
