"""``traces tail``: report each trace once, when it has stopped growing.

A trace is complete when its span count has not changed for ``settle`` seconds (retries
scheduled later add spans to the same trace; a later tail reports the trace again only if
it was not reported yet). Without follow, everything in the window is reported at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from harborctl.telemetry.trace_model import SpanView, TraceSummary


class TraceSource(Protocol):
    def recent(
        self, *, since_ns: int, until_ns: int, service: str | None
    ) -> list[TraceSummary]: ...

    def get(self, trace_id: str) -> list[SpanView]: ...


@dataclass
class TailOptions:
    service: str | None = None
    errors_only: bool = False
    since_seconds: float = 300.0
    follow: bool = True
    settle_seconds: float = 2.0
    poll_seconds: float = 1.0
    max_traces: int | None = None  # stop after this many (follow mode included)


def tail_traces(
    source: TraceSource,
    options: TailOptions,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[TraceSummary]:
    since_ns = int((clock() - options.since_seconds) * 1e9)
    reported: set[str] = set()
    growing: dict[str, tuple[int, float]] = {}  # trace id → (span count, when it changed)
    emitted = 0
    while True:
        now = clock()
        for summary in source.recent(
            since_ns=since_ns, until_ns=int(now * 1e9), service=options.service
        ):
            if summary.trace_id in reported:
                continue
            count, changed = growing.get(summary.trace_id, (-1, now))
            if count != summary.span_count:
                growing[summary.trace_id] = (summary.span_count, now)
                changed = now
            if options.follow and now - changed < options.settle_seconds:
                continue
            reported.add(summary.trace_id)
            growing.pop(summary.trace_id, None)
            if options.errors_only and summary.status != "ERROR":
                continue
            yield summary
            emitted += 1
            if options.max_traces is not None and emitted >= options.max_traces:
                return
        if not options.follow:
            return
        sleep(options.poll_seconds)
