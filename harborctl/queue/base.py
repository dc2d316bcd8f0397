"""The transport interface the ingest and the worker are written against."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from harborctl.queue.envelope import DeliveryMessage


@dataclass(frozen=True, slots=True)
class Done:
    """Nothing more to do with this message."""


@dataclass(frozen=True, slots=True)
class Later:
    """Hand the message back; it is due again in ``delay`` seconds."""

    delay: float


Disposition = Done | Later

# The worker's handler: given a message (and whether the transport already claimed the
# delivery row), do one step of work and say what should happen to the message.
Handler = Callable[[DeliveryMessage, bool], Awaitable[Disposition]]


class Publisher(Protocol):
    async def start(self) -> None: ...

    async def publish(self, messages: Sequence[DeliveryMessage]) -> None:
        """Hand messages to the queue; raises TransportError when it cannot."""

    async def publish_dead_letter(self, body: bytes) -> None: ...

    async def close(self) -> None: ...


class Consumer(Protocol):
    async def run(self, handler: Handler) -> None:
        """Feed messages to ``handler`` until ``stop()``; returns when in-flight work is done."""

    def stop(self) -> None: ...

    @property
    def held(self) -> int:
        """Messages this consumer holds right now (in flight + waiting)."""
