"""Re-publish deliveries whose message was lost (between commit and publish, or by nsqd).

The database is the source of truth: anything left due for longer than the deadline is
sent again. Duplicates are harmless: a worker claims the row before it attempts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from harborctl.queue.base import Publisher
from harborctl.queue.envelope import DeliveryMessage
from harborctl.store.work import WorkRepository

log = logging.getLogger(__name__)


class Reconciler:
    def __init__(
        self,
        work: WorkRepository,
        publisher: Publisher,
        *,
        older_than: timedelta,
        interval: float,
        clock: Callable[[], datetime],
        batch: int = 500,
    ) -> None:
        self.work = work
        self.publisher = publisher
        self.older_than = older_than
        self.interval = interval
        self.clock = clock
        self.batch = batch
        self.republished_total = 0

    async def run_once(self) -> int:
        now = self.clock()
        stale = await asyncio.to_thread(
            self.work.stale_deliveries, now, self.older_than, self.batch
        )
        if not stale:
            return 0
        messages = [DeliveryMessage.of(d) for d in stale]
        await self.publisher.publish(messages)
        await asyncio.to_thread(self.work.mark_republished, [d.id for d in stale], now)
        self.republished_total += len(stale)
        log.warning("reconciler re-published %d stale deliveries", len(stale))
        return len(stale)

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await self.run_once()
            except Exception as exc:  # nsqd down: try again next round
                log.warning("reconciler round failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)
