"""``logs tail``: the last matching lines, then (follow) new ones by polling from the
last timestamp seen; lines at that exact timestamp are not repeated."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from harborctl.telemetry.log_query import LogEntry, LogQuery


class LogSource(Protocol):
    def fetch(
        self, query: LogQuery, *, start_ns: int, end_ns: int, limit: int
    ) -> list[LogEntry]: ...


@dataclass
class LogTailOptions:
    since_seconds: float = 3600.0
    limit: int = 100
    follow: bool = False
    poll_seconds: float = 1.0
    max_lines: int | None = None  # stop after this many (follow mode included)


def _key(entry: LogEntry) -> tuple[int, str]:
    return entry.timestamp_ns, json.dumps(entry.record, sort_keys=True, default=str)


def tail_logs(
    source: LogSource,
    query: LogQuery,
    options: LogTailOptions,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[LogEntry]:
    now_ns = int(clock() * 1e9)
    start_ns = now_ns - int(options.since_seconds * 1e9)
    last_ns = start_ns
    at_last: set[tuple[int, str]] = set()
    emitted = 0
    batch = source.fetch(query, start_ns=start_ns, end_ns=now_ns, limit=options.limit)
    while True:
        for entry in batch:
            key = _key(entry)
            if entry.timestamp_ns < last_ns or key in at_last:
                continue
            if entry.timestamp_ns > last_ns:
                last_ns, at_last = entry.timestamp_ns, set()
            at_last.add(key)
            yield entry
            emitted += 1
            if options.max_lines is not None and emitted >= options.max_lines:
                return
        if not options.follow:
            return
        sleep(options.poll_seconds)
        batch = source.fetch(query, start_ns=last_ns, end_ns=int(clock() * 1e9), limit=5000)
