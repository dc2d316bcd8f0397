"""The `nsq` transport: pynsq against real nsqd, nsqlookupd for discovery.

This is the only module that imports pynsq or tornado. Tornado 6 runs on the asyncio
loop, so pynsq's callbacks fire on the same loop as the rest of the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

import nsq

from harborctl.errors import TransportError, ValidationError
from harborctl.queue.base import Done, Handler, Later
from harborctl.queue.envelope import DeliveryMessage
from harborctl.queue.tracing import producer_span, producer_spans

log = logging.getLogger(__name__)

MAX_REQUEUE_SECONDS = 3600.0  # nsqd's default --max-req-timeout
PUBLISH_TIMEOUT_SECONDS = 5.0
DISCOVERY_RETRY_SECONDS = 1.0


class NsqPublisher:
    def __init__(
        self,
        nsqd_tcp_addresses: Sequence[str],
        *,
        topic: str,
        dlq_topic: str,
        connect_timeout: float = 5.0,
    ) -> None:
        self.addresses = list(nsqd_tcp_addresses)
        self.topic = topic
        self.dlq_topic = dlq_topic
        self.connect_timeout = connect_timeout
        self._writer: Any = None

    async def start(self) -> None:
        """Connect; a publisher that cannot reach nsqd yet keeps retrying in the background."""
        self._writer = nsq.Writer(self.addresses, reconnect_interval=2.0)
        deadline = time.monotonic() + self.connect_timeout
        while not self._writer.conns and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not self._writer.conns:
            log.warning("nsqd not reachable yet at %s; will keep trying", self.addresses)

    @property
    def connected(self) -> bool:
        return bool(self._writer is not None and self._writer.conns)

    async def publish(self, messages: Sequence[DeliveryMessage]) -> None:
        """One PUB/MPUB; one PRODUCER span per trace among the messages, whose context
        replaces the message's own in the envelope (the consumer becomes its child)."""
        if not messages:
            return
        with producer_spans(self.topic, messages) as traced:
            bodies = [m.encode() for m in traced]
            if len(bodies) == 1:
                await self._call(self._writer.pub, self.topic, bodies[0])
            else:
                await self._call(self._writer.mpub, self.topic, bodies)

    async def publish_dead_letter(self, body: bytes) -> None:
        with producer_span(self.dlq_topic, 1):
            await self._call(self._writer.pub, self.dlq_topic, body)

    async def _call(self, method: Any, *args: Any) -> None:
        if self._writer is None:
            raise TransportError("publisher not started")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def done(_conn: Any, data: Any) -> None:
            if future.done():
                return
            if isinstance(data, (nsq.Error, Exception)):
                future.set_exception(TransportError(f"nsqd refused the publish: {data}"))
            else:
                future.set_result(None)

        try:
            method(*args, callback=done)
        except Exception as exc:  # pynsq raises synchronously on bad arguments
            raise TransportError(f"publish failed: {exc}") from exc
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_SECONDS):  # no task, unlike wait_for
                await future
        except TimeoutError as exc:
            raise TransportError("nsqd did not acknowledge the publish in time") from exc

    async def close(self) -> None:
        if self._writer is not None:
            for conn in list(self._writer.conns.values()):
                conn.close()
            self._writer = None


class NsqConsumer:
    """Reads the deliveries topic; each message becomes one asyncio task."""

    def __init__(
        self,
        *,
        topic: str,
        channel: str,
        lookupd_http_addresses: Sequence[str],
        max_in_flight: int,
        lookupd_poll_interval: int = 15,
        nsqd_tcp_addresses: Sequence[str] = (),
    ) -> None:
        self.topic = topic
        self.channel = channel
        self.lookupd = [
            a if a.startswith("http") else f"http://{a}" for a in lookupd_http_addresses
        ]
        self.nsqd = list(nsqd_tcp_addresses)
        self.max_in_flight = max_in_flight
        self.lookupd_poll_interval = lookupd_poll_interval
        self._reader: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    @property
    def held(self) -> int:
        return len(self._tasks)

    @property
    def connected(self) -> int:
        return len(self._reader.conns) if self._reader is not None else 0

    def stop(self) -> None:
        if self._reader is not None:
            self._reader.set_max_in_flight(0)  # RDY 0: nsqd sends nothing new
        self._stopping.set()

    async def run(self, handler: Handler) -> None:
        def on_message(message: Any) -> None:
            message.enable_async()
            task = asyncio.ensure_future(self._handle(handler, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self._reader = nsq.Reader(
            topic=self.topic,
            channel=self.channel,
            message_handler=on_message,
            lookupd_http_addresses=self.lookupd or None,
            nsqd_tcp_addresses=self.nsqd or None,
            max_in_flight=self.max_in_flight,
            max_tries=0,  # the database, not nsqd, decides when to give up
            lookupd_poll_interval=int(self.lookupd_poll_interval),
        )
        if self.lookupd:
            await self._discover_quickly()
        await self._stopping.wait()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._reader.close()

    async def _discover_quickly(self) -> None:
        """Ask nsqlookupd every second until some nsqd carries the topic.

        A worker that starts before anything was published finds no producer; pynsq would
        ask again only after the full poll interval, delaying the first deliveries by it.
        """
        while not self._stopping.is_set() and not self._reader.conns:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=DISCOVERY_RETRY_SECONDS)
            if not self._reader.conns:
                self._reader.query_lookupd()

    async def _handle(self, handler: Handler, message: Any) -> None:
        try:
            envelope = DeliveryMessage.decode(message.body)
        except ValidationError as exc:
            log.error("dropping a malformed message %s: %s", message.id, exc)
            message.finish()
            return
        try:
            disposition = await handler(envelope, False)
        except Exception:
            log.exception("delivery %s failed unexpectedly; requeueing", envelope.delivery_id)
            disposition = Later(5.0)
        if isinstance(disposition, Done):
            message.finish()
        else:
            delay_ms = int(min(max(disposition.delay, 0.0), MAX_REQUEUE_SECONDS) * 1000)
            message.requeue(time_ms=delay_ms, backoff=False)
