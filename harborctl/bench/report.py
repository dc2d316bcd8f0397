"""The bench's figures, computed from what the run recorded (pure).

Definitions (times are one monotonic clock, shared by the bench and its receiver):

- **publish latency**: from when a publish was due (open loop) or sent (closed loop) to its
  answer; for accepted publishes (202) and, apart, for refused ones (429/503);
- **accepted events/s**: accepted publishes over the time from the start of the load to the
  last accepted answer;
- **first-attempt latency**: from the 202 reaching the bench to the receiver getting the
  delivery (0 when the delivery arrived before the 202 did: the worker can be that fast);
- **end-to-end latency**: from when the publish was due or sent to the receiver getting it;
- **deliveries/s**: deliveries of accepted events that arrived, over the time from the start
  of the load to the last arrival;
- **CPU per delivery**: CPU seconds of the stack's processes (ingest, workers, nsqd,
  nsqlookupd, PostgreSQL with its backends) over the run, per delivery that arrived. The
  monitor, Prometheus and Alertmanager, the receiver and the bench itself are reported apart
  and not counted.
- **memory**: the proportional set size summed over a process tree (shared pages divided
  among the processes sharing them), at the start, at the end and at its peak (sampled every
  second).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harborctl.bench.load import REFUSED, PublishLog
from harborctl.bench.procstat import Usage
from harborctl.bench.stats import latency_ms, rate

ROLE_STACK = "stack"
ROLE_OBSERVABILITY = "observability"
ROLE_RECEIVER = "receiver"
ROLE_BENCH = "bench"


def _latency(values: Sequence[float]) -> dict[str, float] | None:
    found = latency_ms(values)
    return None if found is None else found.to_dict()


def publish_figures(log: PublishLog) -> dict[str, Any]:
    """sent, accepted, refused, errors, seconds, accepted_per_second, latency_ms,
    refused_latency_ms, first_errors."""
    accepted = [i for i, status in enumerate(log.status) if status == 202]
    refused = [i for i, status in enumerate(log.status) if status in REFUSED]
    last = max((log.answered[i] for i in accepted), default=log.started)
    seconds = max(0.0, last - log.started)
    return {
        "sent": log.sent,
        "accepted": len(accepted),
        "refused": len(refused),
        "errors": log.error_count,
        "seconds": round(seconds, 3),
        "accepted_per_second": rate(len(accepted), seconds),
        "latency_ms": _latency([log.answered[i] - log.intended[i] for i in accepted]),
        "refused_latency_ms": _latency([log.answered[i] - log.intended[i] for i in refused]),
        "first_errors": list(log.errors),
    }


@dataclass(frozen=True)
class Accepted:
    """One accepted publish: its event id, when it was due/sent and answered, its fan-out."""

    event_id: str
    intended: float
    answered: float
    fanout: int


def accepted_events(log: PublishLog) -> list[Accepted]:
    return [
        Accepted(event_id, log.intended[i], log.answered[i], log.fanout[i])
        for i, event_id in enumerate(log.event_ids)
        if log.status[i] == 202 and event_id is not None
    ]


def expected_deliveries(log: PublishLog) -> int:
    return sum(event.fanout for event in accepted_events(log))


def delivery_figures(
    log: PublishLog,
    arrivals: Mapping[tuple[str, str], float] | None,
    paths: Sequence[str],
    *,
    counted: int | None = None,
    settled: float | None = None,
) -> dict[str, Any]:
    """expected, received, unmatched, duplicates (filled in by the caller), seconds,
    per_second, first_attempt_ms, end_to_end_ms, complete.

    ``arrivals`` maps (endpoint path, webhook-id) to the first arrival, from the bench's
    receiver; ``paths`` are the endpoints' paths. Without arrivals (an external receiver),
    ``counted`` is the delivered count the workers report, ``settled`` when it was first seen
    (monotonic), and no latency is known.
    """
    events = accepted_events(log)
    expected = sum(event.fanout for event in events)
    if arrivals is None:
        received = counted or 0
        seconds = None if settled is None else max(0.0, settled - log.started)
        return {
            "expected": expected,
            "received": received,
            "unmatched": None,
            "seconds": None if seconds is None else round(seconds, 3),
            "per_second": None if seconds is None else rate(received, seconds),
            "first_attempt_ms": None,
            "end_to_end_ms": None,
            "complete": received >= expected,
        }
    first_attempt: list[float] = []
    end_to_end: list[float] = []
    last = log.started
    for event in events:
        for path in paths:
            at = arrivals.get((path, event.event_id))
            if at is None:
                continue
            first_attempt.append(max(0.0, at - event.answered))
            end_to_end.append(at - event.intended)
            last = max(last, at)
    received = len(end_to_end)
    seconds = max(0.0, last - log.started)
    return {
        "expected": expected,
        "received": received,
        "unmatched": len(arrivals) - received,
        "seconds": round(seconds, 3),
        "per_second": rate(received, seconds),
        "first_attempt_ms": _latency(first_attempt),
        "end_to_end_ms": _latency(end_to_end),
        "complete": received >= expected,
    }


def process_rows(
    usages: Sequence[Usage], roles: Mapping[str, tuple[str, str]], deliveries: int
) -> list[dict[str, Any]]:
    """One row per measured process tree: name, kind, role, pid, cpu_seconds,
    cpu_ms_per_delivery, memory_mib_start/end/peak (PSS summed over the tree:
    ``harborctl.bench.procstat``), processes. ``roles`` maps a name to (kind, role)."""
    rows = []
    for usage in usages:
        kind, role = roles.get(usage.name, (usage.name, ROLE_STACK))
        cpu = usage.cpu_seconds
        start, end, peak = usage.memory_mib
        rows.append(
            {
                "name": usage.name,
                "kind": kind,
                "role": role,
                "pid": usage.pid,
                "cpu_seconds": None if cpu is None else round(cpu, 3),
                "cpu_ms_per_delivery": (
                    round(cpu * 1000 / deliveries, 3) if cpu is not None and deliveries else None
                ),
                "memory_mib_start": round(start, 1),
                "memory_mib_end": None if end is None else round(end, 1),
                "memory_mib_peak": round(peak, 1),
                "processes": usage.processes,
            }
        )
    return rows


def cpu_figures(rows: Sequence[Mapping[str, Any]], deliveries: int, events: int) -> dict[str, Any]:
    """stack_seconds, stack_ms_per_delivery, by_kind {kind: {cpu_seconds,
    ms_per_delivery}}, ingest_ms_per_event; over the stack's processes only."""
    stack = [row for row in rows if row["role"] == ROLE_STACK and row["cpu_seconds"] is not None]
    by_kind: dict[str, float] = {}
    for row in stack:
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0.0) + float(row["cpu_seconds"])
    total = sum(by_kind.values())

    def per(value: float, count: int) -> float | None:
        return round(value * 1000 / count, 3) if count else None

    return {
        "stack_seconds": round(total, 3) if stack else None,
        "stack_ms_per_delivery": per(total, deliveries) if stack else None,
        "by_kind": {
            kind: {"cpu_seconds": round(seconds, 3), "ms_per_delivery": per(seconds, deliveries)}
            for kind, seconds in by_kind.items()
        },
        "ingest_ms_per_event": per(by_kind["ingest"], events) if "ingest" in by_kind else None,
    }
