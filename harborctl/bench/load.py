"""The load generator: publishes events to the ingest API, closed or open loop (aiohttp).

- **Closed loop** (``concurrency`` K): K publishers, each sending its next event when the
  previous one is answered. Measures what the stack accepts when clients wait for it.
- **Open loop** (``rate`` R events/s): event *i* is due at ``start + i/R`` whatever happened
  to the earlier ones; its latency is measured from that due time, not from when it could
  be sent, so time spent queued behind a slow server counts (no coordinated omission). At
  most ``max_in_flight`` requests are open; a due event waits for a connection and its wait
  counts too.

Every publish is recorded: when it was due (open loop) or sent (closed loop), when its
answer came, its status (0: no answer: timeout or connection error), the event id and the
fan-out the API reported. A 429 or 503 is a refusal (counted, not retried: that event is
not accepted; a closed-loop publisher waits for ``Retry-After``, at most a second, before
its next one). Times are ``time.monotonic()``, the clock of the bench receiver too.

aiohttp, not httpx: at a few thousand requests per second httpx's own pool costs several
times the client CPU (DESIGN.md, performance notes), and the load generator shares the
machine with the stack it measures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

Mode = Literal["closed", "open"]
Progress = Callable[[str, int, int | None], None]

REFUSED = frozenset({429, 503})
EVENT_TYPE = "bench.tick"
REQUEST_TIMEOUT_SECONDS = 60.0
MAX_RETRY_AFTER_WAIT = 1.0
PROGRESS_SECONDS = 0.5
MAX_ERRORS_KEPT = 5


@dataclass(frozen=True)
class LoadPlan:
    """How to load the API. ``events`` or ``duration`` bounds the run (both: the first to
    end it); ``rate`` set means open loop."""

    concurrency: int = 20
    rate: float | None = None
    events: int | None = None
    duration: float | None = None
    max_in_flight: int = 512
    payload_bytes: int = 200

    @property
    def mode(self) -> Mode:
        return "open" if self.rate else "closed"

    @property
    def total(self) -> int | None:
        """How many events an open loop schedules (``rate * duration`` when only a duration
        is given); None for a closed loop bounded by time only."""
        if self.events is not None:
            return self.events
        if self.rate and self.duration:
            return max(1, int(self.rate * self.duration))
        return None


@dataclass
class PublishLog:
    """One entry per publish, in the order they were started (see the module docstring)."""

    started: float = 0.0  # when the load began (monotonic)
    intended: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    status: list[int] = field(default_factory=list)
    event_ids: list[str | None] = field(default_factory=list)
    fanout: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the first few, for the report
    error_count: int = 0

    def add(
        self,
        intended: float,
        answered: float,
        status: int,
        event_id: str | None = None,
        fanout: int = 0,
        error: str | None = None,
    ) -> None:
        self.intended.append(intended)
        self.answered.append(answered)
        self.status.append(status)
        self.event_ids.append(event_id)
        self.fanout.append(fanout)
        if error is not None:
            self.error_count += 1
            if len(self.errors) < MAX_ERRORS_KEPT:
                self.errors.append(error)

    @property
    def sent(self) -> int:
        return len(self.status)

    @property
    def accepted(self) -> int:
        return sum(1 for status in self.status if status == 202)

    @property
    def refused(self) -> int:
        return sum(1 for status in self.status if status in REFUSED)


def event_body(n: int, pad: str) -> bytes:
    """The publish request of event ``n``: ``{"event_type", "payload": {"n", "pad"}}``."""
    return b'{"event_type":"%s","payload":%s}' % (EVENT_TYPE.encode(), payload(n, pad))


def payload(n: int, pad: str) -> bytes:
    """The event's payload as the receiver gets it (also what ``nsq_to_http`` pushes)."""
    return b'{"n":%d,"pad":"%s"}' % (n, pad.encode())


class _Publisher:
    def __init__(
        self, session: aiohttp.ClientSession, url: str, api_key: str, plan: LoadPlan
    ) -> None:
        self.session = session
        self.url = url
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self.pad = "x" * plan.payload_bytes
        self.log = PublishLog()

    async def publish(self, n: int, intended: float) -> float | None:
        """Publish event ``n``; returns the Retry-After of a refusal (seconds) or None."""
        body = event_body(n, self.pad)
        try:
            async with self.session.post(self.url, data=body, headers=self.headers) as answer:
                raw = await answer.read()
                status = answer.status
                retry_after = answer.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.log.add(intended, time.monotonic(), 0, error=f"{type(exc).__name__}: {exc}")
            return None
        now = time.monotonic()
        if status == 202:
            try:
                data = json.loads(raw)
                self.log.add(
                    intended, now, status, str(data["event_id"]), int(data["fanout_count"])
                )
            except (ValueError, KeyError, TypeError):
                self.log.add(
                    intended, now, status, error=f"202 with an unreadable body: {raw[:80]!r}"
                )
            return None
        if status in REFUSED:
            self.log.add(intended, now, status)
            try:
                return float(retry_after) if retry_after else 0.0
            except ValueError:
                return 0.0
        self.log.add(intended, now, status, error=f"HTTP {status}: {raw[:120]!r}")
        return None


async def run_load(
    url: str, api_key: str, plan: LoadPlan, progress: Progress | None = None
) -> PublishLog:
    """Publish to ``url`` (the tenant's ``events:publish``) as ``plan`` says."""
    in_flight = plan.concurrency if plan.mode == "closed" else plan.max_in_flight
    connector = aiohttp.TCPConnector(limit=in_flight, force_close=False, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False
    ) as session:
        publisher = _Publisher(session, url, api_key, plan)
        ticker = asyncio.create_task(_report(publisher.log, plan.total, progress))
        try:
            publisher.log.started = time.monotonic()
            if plan.mode == "open":
                await _open_loop(publisher, plan)
            else:
                await _closed_loop(publisher, plan)
        finally:
            ticker.cancel()
        if progress:
            progress("published", publisher.log.sent, plan.total)
        return publisher.log


async def _closed_loop(publisher: _Publisher, plan: LoadPlan) -> None:
    numbers = itertools.count()
    ends = publisher.log.started + plan.duration if plan.duration else None

    async def one() -> None:
        while True:
            n = next(numbers)
            if plan.events is not None and n >= plan.events:
                return
            now = time.monotonic()
            if ends is not None and now >= ends:
                return
            wait = await publisher.publish(n, now)
            if wait is not None:
                await asyncio.sleep(min(wait, MAX_RETRY_AFTER_WAIT))

    await asyncio.gather(*(one() for _ in range(plan.concurrency)))


async def _open_loop(publisher: _Publisher, plan: LoadPlan) -> None:
    assert plan.rate
    total = plan.total
    assert total is not None
    start = publisher.log.started
    tasks: set[asyncio.Task[float | None]] = set()
    for n in range(total):
        due = start + n / plan.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(publisher.publish(n, due))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)


async def _report(log: PublishLog, total: int | None, progress: Progress | None) -> None:
    if progress is None:
        return
    while True:
        await asyncio.sleep(PROGRESS_SECONDS)
        progress("published", log.sent, total)
