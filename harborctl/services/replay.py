"""Replay dead deliveries: commit new queued deliveries, then publish them.

Replays take the same fast path as publishes: the new rows are committed first, then one
message per new delivery goes to the transport. A publish that fails is logged and left to
the reconciler, which re-publishes whatever stays queued past its deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from harborctl.domain.models import Delivery
from harborctl.errors import TransportError
from harborctl.queue.base import Publisher
from harborctl.queue.envelope import DeliveryMessage
from harborctl.store.events import EventRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DlqReplay:
    """What a DLQ replay did: (new delivery id, replayed id) pairs; no new ids on a dry run."""

    dry_run: bool
    pairs: list[tuple[str | None, str]]

    @property
    def replayed(self) -> int:
        return 0 if self.dry_run else len(self.pairs)


class ReplayService:
    def __init__(
        self, events: EventRepository, publisher: Publisher, clock: Callable[[], datetime]
    ) -> None:
        self.events = events
        self.publisher = publisher
        self.clock = clock

    async def replay_one(self, tenant_id: str, delivery_id: str) -> Delivery:
        """The new delivery replaying dead ``delivery_id``; raises NotFound, or Conflict when
        it is not dead, was replayed already, or its endpoint was deleted."""
        made = await asyncio.to_thread(self.events.replay, tenant_id, delivery_id, self.clock())
        await self._publish([made])
        return made

    async def replay_dead(
        self,
        tenant_id: str,
        *,
        endpoint_id: str | None,
        since: datetime | None,
        dry_run: bool,
    ) -> DlqReplay:
        """Replay every dead, not yet replayed delivery of the tenant matching the filter
        (``since``: last change at or after); a dry run only names them."""
        pairs = await asyncio.to_thread(
            self.events.replay_dead,
            tenant_id,
            endpoint_id=endpoint_id,
            since=since,
            now=self.clock(),
            dry_run=dry_run,
        )
        new_ids = [new for new, _ in pairs if new]
        if new_ids:
            await self._publish(await asyncio.to_thread(self.events.deliveries_by_id, new_ids))
        return DlqReplay(dry_run=dry_run, pairs=pairs)

    async def _publish(self, deliveries: Sequence[Delivery]) -> None:
        try:
            await self.publisher.publish([DeliveryMessage.of(d) for d in deliveries])
        except TransportError as exc:  # committed: the reconciler will publish it
            log.warning("replay committed but not published (%s); reconciler will", exc)
