"""The soak's load: a steady open loop of publishes that behaves as a client should.

Event ``n`` is due at ``start + n / rate`` (open loop: a slow answer never slows the
schedule) and carries the idempotency key ``<run>-<n>``. Its publish is sent again, with the
same key and body, until an answer settles it:

- 202: accepted (the event id and fan-out are kept);
- 429 or 503 (a refusal: overload, or a store that does not answer): wait ``Retry-After``
  (a refusal without one is counted: the API promises it), doubling the wait on every
  repeat (:func:`retry_wait`), then again;
- no answer (connection refused or reset, timeout): the outcome is unknown, so again after
  the same backoff: the key makes a publish that did get stored answer its event id;
- another 5xx: counted as a server error (the API promises never to answer one), then again;
- another 4xx: rejected, final (a bug of the soak's request; counted).

An event not settled ``GIVE_UP_SECONDS`` after it was due is abandoned (counted). Times are
wall-clock seconds (``time.time()``), the clock the receiver's records and the faults use.
aiohttp, as ``harborctl bench``'s load generator (DESIGN.md, performance notes).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp

from harborctl.soak.topology import event_type_of

REFUSED = frozenset({429, 503})
FIRST_WAIT_SECONDS = 0.25  # the first wait when a refusal names no Retry-After
MAX_WAIT_SECONDS = 8.0
GIVE_UP_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 30.0
MAX_IN_FLIGHT = 256
MAX_ERRORS_KEPT = 5
PROGRESS_SECONDS = 0.5

Progress = Callable[[int, int], None]


def retry_wait(repeat: int, retry_after: float | None) -> float:
    """Seconds to wait before the ``repeat``-th try again (1-based): ``Retry-After`` when the
    server named one, at least ``FIRST_WAIT_SECONDS * 2**(repeat-1)`` (exponential backoff on
    repeats), at most ``MAX_WAIT_SECONDS``."""
    if repeat < 1:
        raise ValueError("repeat is 1-based")
    backoff = FIRST_WAIT_SECONDS * float(2 ** min(repeat - 1, 16))
    return float(min(MAX_WAIT_SECONDS, max(backoff, retry_after or 0.0)))


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the delay-seconds form); None when absent or a date."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


@dataclass
class Published:
    """One event of the load and how its publish ended."""

    n: int
    key: str
    event_type: str
    due: float
    tries: int = 0
    event_id: str | None = None
    fanout: int | None = None
    accepted_at: float | None = None
    failure: str | None = None  # rejected or abandoned: why


@dataclass
class LoadResult:
    """Every event, and every answer that did not settle one (module docstring)."""

    run_id: str
    started_at: float = 0.0
    ended_at: float = 0.0
    events: list[Published] = field(default_factory=list)
    refusals: Counter[int] = field(default_factory=Counter)  # status → answers
    refused_at: list[float] = field(default_factory=list)  # when each refusal came
    refused_without_retry_after: int = 0  # the API promises Retry-After on every one
    no_answer: int = 0
    server_errors: Counter[int] = field(default_factory=Counter)
    rejected: int = 0
    abandoned: int = 0
    first_errors: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> list[Published]:
        return [event for event in self.events if event.event_id is not None]

    def note_error(self, text: str) -> None:
        if len(self.first_errors) < MAX_ERRORS_KEPT:
            self.first_errors.append(text)


class _Client:
    def __init__(self, session: aiohttp.ClientSession, url: str, api_key: str) -> None:
        self.session = session
        self.url = url
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    async def settle(self, event: Published, result: LoadResult) -> None:
        body = json.dumps(
            {
                "event_type": event.event_type,
                "payload": {"n": event.n, "run": result.run_id},
                "idempotency_key": event.key,
            }
        ).encode()
        repeat = 0
        while True:
            event.tries += 1
            retry_after: float | None = None
            try:
                async with self.session.post(self.url, data=body, headers=self.headers) as answer:
                    raw = await answer.read()
                    status = answer.status
                    retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.no_answer += 1
                result.note_error(f"no answer: {type(exc).__name__}: {exc}")
            else:
                if status == 202:
                    try:
                        data = json.loads(raw)
                        event.event_id = str(data["event_id"])
                        event.fanout = int(data["fanout_count"])
                    except (ValueError, KeyError, TypeError):
                        result.server_errors[status] += 1
                        result.note_error(f"202 with an unreadable body: {raw[:80]!r}")
                    else:
                        event.accepted_at = time.time()
                        return
                elif status in REFUSED:
                    result.refusals[status] += 1
                    result.refused_at.append(time.time())
                    if retry_after is None:
                        result.refused_without_retry_after += 1
                elif status >= 500:
                    result.server_errors[status] += 1
                    result.note_error(f"HTTP {status}: {raw[:160]!r}")
                else:
                    result.rejected += 1
                    event.failure = f"HTTP {status}: {raw[:160]!r}"
                    result.note_error(event.failure)
                    return
            if time.time() - event.due > GIVE_UP_SECONDS:
                result.abandoned += 1
                event.failure = f"abandoned after {event.tries} tries"
                return
            repeat += 1
            await asyncio.sleep(retry_wait(repeat, retry_after))


async def run_load(
    url: str,
    api_key: str,
    *,
    rate: float,
    events: int,
    run_id: str,
    progress: Progress | None = None,
) -> LoadResult:
    """Publish ``events`` events at ``rate`` per second to ``url`` (a tenant's
    ``events:publish``) and return once every one is settled (module docstring)."""
    result = LoadResult(run_id=run_id)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False
    ) as session:
        client = _Client(session, url, api_key)
        tasks: set[asyncio.Task[None]] = set()
        ticker = asyncio.create_task(_report(result, events, progress))
        result.started_at = start = time.time()
        try:
            for n in range(events):
                due = start + n / rate
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                event = Published(n, f"{run_id}-{n}", event_type_of(n), due)
                result.events.append(event)
                task = asyncio.create_task(client.settle(event, result))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.gather(*list(tasks))
        finally:
            ticker.cancel()
        result.ended_at = time.time()
    if progress:
        progress(len(result.accepted), events)
    return result


async def _report(result: LoadResult, total: int, progress: Progress | None) -> None:
    if progress is None:
        return
    while True:
        await asyncio.sleep(PROGRESS_SECONDS)
        progress(len(result.accepted), total)
