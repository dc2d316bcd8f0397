"""The `db` transport: the deliveries table is the queue; workers claim due rows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from harborctl.queue.base import Handler
from harborctl.queue.envelope import DeliveryMessage
from harborctl.store.work import WorkRepository

log = logging.getLogger(__name__)


class DbPublisher:
    """Publishing is the committed row itself; the dead row is the dead-letter queue."""

    async def start(self) -> None:
        return None

    async def publish(self, messages: Sequence[DeliveryMessage]) -> None:
        return None

    async def publish_dead_letter(self, body: bytes) -> None:
        return None

    async def close(self) -> None:
        return None


class DbConsumer:
    def __init__(
        self,
        work: WorkRepository,
        *,
        worker_id: str,
        max_in_flight: int,
        lease: timedelta,
        poll_interval: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.work = work
        self.worker_id = worker_id
        self.max_in_flight = max_in_flight
        self.lease = lease
        self.poll_interval = poll_interval
        self.clock = clock
        self._tasks: set[asyncio.Task[object]] = set()
        self._stopping = asyncio.Event()

    @property
    def held(self) -> int:
        return len(self._tasks)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, handler: Handler) -> None:
        while not self._stopping.is_set():
            free = self.max_in_flight - len(self._tasks)
            claimed = []
            if free > 0:
                try:
                    claimed = await asyncio.to_thread(
                        self.work.claim_due, self.worker_id, self.clock(), self.lease, free
                    )
                except Exception:
                    log.exception("claiming due deliveries failed")
            for delivery in claimed:
                message = DeliveryMessage.of(delivery)
                task: asyncio.Task[object] = asyncio.ensure_future(handler(message, True))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(claimed) < free or free == 0:
                await self._pause()
        if self._tasks:
            await asyncio.wait(self._tasks)

    async def _pause(self) -> None:
        """Wait for the poll interval, a free slot, or stop, whichever comes first."""
        waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(self._stopping.wait())}
        if len(self._tasks) >= self.max_in_flight:
            waiters |= set(self._tasks)
        _done, pending = await asyncio.wait(
            waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
        )
        for fut in pending:
            if fut not in self._tasks:
                fut.cancel()
