"""The demo's publisher: events of the mix at a steady rate, in a thread of its own.

Each publish goes through the ingest API (the tenant's key), so it is a real PublishEvent with
its own trace; what the API answers is kept per event: its trace id, its fan-out, and when it
was published (for the receiver-side latency). A publish the API refuses is counted and the
next one goes on.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from harborctl.client import ApiClient
from harborctl.demo.scenario import next_event_type, payload
from harborctl.errors import HarborHookError


@dataclass(frozen=True)
class Published:
    event_id: str
    event_type: str
    trace_id: str | None
    fanout: int
    at: datetime  # just before the request was sent (UTC)


class Publisher:
    """Publishes to ``tenant_id`` at ``rate`` events a second until stopped."""

    def __init__(self, client: ApiClient, tenant_id: str, rate: float, seed: int | None = None):
        self.client = client
        self.tenant_id = tenant_id
        self.rate = rate
        self.rng = random.Random(seed)
        self.events: dict[str, Published] = {}
        self.errors = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def published(self) -> int:
        with self._lock:
            return len(self.events)

    @property
    def deliveries(self) -> int:
        with self._lock:
            return sum(e.fanout for e in self.events.values())

    def snapshot(self) -> dict[str, Published]:
        with self._lock:
            return dict(self.events)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="demo-publisher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15.0)
            self._thread = None

    def _run(self) -> None:
        next_at = time.monotonic()
        number = len(self.events)
        while not self._stop.is_set():
            number += 1
            self._publish_one(number)
            next_at += 1.0 / self.rate
            self._stop.wait(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic() - 1.0)  # never burst to catch up

    def _publish_one(self, number: int) -> None:
        event_type = next_event_type(self.rng)
        body = payload(number, event_type, self.rng)
        at = datetime.now(UTC)
        try:
            answer = self.client.publish_event(self.tenant_id, event_type, body)
        except HarborHookError as exc:
            with self._lock:
                self.errors += 1
                self.last_error = str(exc)
            return
        published = Published(
            event_id=str(answer["event_id"]),
            event_type=event_type,
            trace_id=answer.get("trace_id"),
            fanout=int(answer.get("fanout_count") or 0),
            at=at,
        )
        with self._lock:
            self.events[published.event_id] = published
