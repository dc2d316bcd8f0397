"""The demo's two local receivers in one background event loop: the webhook receiver its
endpoints point at (verifying signatures) and the recorder Alertmanager notifies.

``ReceiverPair.start()`` answers their URLs; ``records(name, start)`` reads what one got, in
order from index ``start``, through the loop that owns the records (they are not thread-safe);
``switch(path, behaviour)`` changes how the webhook receiver answers a path, through its own
HTTP API (``POST /_switch``, ``harborctl.receiver.server``); ``stop()`` ends both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import httpx

from harborctl.errors import ServiceError
from harborctl.receiver.records import Record
from harborctl.receiver.server import SHUTDOWN_TIMEOUT, ReceiverRunner

WEBHOOKS = "webhooks"
RECORDER = "recorder"
START_TIMEOUT = 10.0
READ_TIMEOUT = 10.0
SWITCH_TIMEOUT = 10.0


class ReceiverPair:
    """The webhook receiver (``secret`` verifies signatures) and the alert recorder."""

    def __init__(self, secret: str, host: str = "127.0.0.1") -> None:
        self.secret = secret
        self.host = host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._runners: dict[str, ReceiverRunner] = {}
        self._thread: threading.Thread | None = None
        self.urls: dict[str, str] = {}  # by name, once started

    def start(self) -> dict[str, str]:
        """Start both on free ports; their base URLs by name (``WEBHOOKS``, ``RECORDER``)."""
        started: concurrent.futures.Future[dict[str, str]] = concurrent.futures.Future()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            runners = {
                WEBHOOKS: ReceiverRunner(self.secret, host=self.host),
                RECORDER: ReceiverRunner(None, host=self.host),
            }
            try:
                for runner in runners.values():
                    await runner.start()
            except BaseException as exc:
                for runner in runners.values():
                    await runner.stop()
                started.set_exception(exc)
                return
            self._runners = runners
            started.set_result({name: runner.url for name, runner in runners.items()})
            try:
                await self._stop.wait()
            finally:
                for runner in runners.values():
                    await runner.stop()

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="demo-receivers", daemon=True
        )
        self._thread.start()
        try:
            self.urls = started.result(timeout=START_TIMEOUT)
        except concurrent.futures.TimeoutError as exc:
            raise ServiceError("the demo's receivers did not start in time") from exc
        return self.urls

    def records(self, name: str, start: int = 0) -> list[Record]:
        """What receiver ``name`` recorded, from the ``start``-th record on, oldest first."""
        if self._loop is None or name not in self._runners:
            return []
        runner = self._runners[name]

        async def read() -> list[Record]:
            return runner.records.select()[start:]

        future = asyncio.run_coroutine_threadsafe(read(), self._loop)
        try:
            return future.result(timeout=READ_TIMEOUT)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise ServiceError(f"the demo's {name} receiver did not answer in time") from exc

    def switch(self, path: str, behaviour: str | None) -> None:
        """The webhook receiver answers ``path`` as ``behaviour`` from now on (None: as
        itself); ServiceError when it does not answer or refuses."""
        try:
            answer = httpx.post(
                f"{self.urls[WEBHOOKS]}/_switch",
                json={"path": path, "to": behaviour},
                timeout=SWITCH_TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise ServiceError(f"the demo's receiver did not answer: {exc}") from exc
        if answer.status_code != 200:
            raise ServiceError(f"the demo's receiver refused to switch {path}: {answer.text}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=SHUTDOWN_TIMEOUT + 5.0)
        self._loop = None
        self._runners = {}
