"""Group commit: concurrent requests for the same work share one round trip.

A :class:`GroupCommit` gathers the items submitted while its previous batch is running and
hands them to one call of its work function, then gives each submitter its own result.
There is no timer: an item submitted to an idle batcher runs at once, alone; under load,
batches grow by themselves to what arrived during the last one, up to ``max_batch``. A
batch of database work costs one thread hop and one transaction instead of one per item
(:func:`in_thread` runs a synchronous store function in the default executor); a batch of
queue messages costs one ``MPUB``.

The work function receives the items in submission order and returns one result per item,
in the same order; if it raises, every item of that batch gets the exception. With
``max_wait``, an item that has waited longer than that for its batch to start is not run
at all: its submitter gets :class:`Overloaded` (the caller answers 503 with Retry-After,
and nothing was done, so retrying is safe).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from harborctl.errors import Overloaded

T = TypeVar("T")
R = TypeVar("R")


def in_thread(
    work: Callable[[list[T]], Sequence[R]],
) -> Callable[[list[T]], Awaitable[Sequence[R]]]:
    """``work`` run in the loop's default executor (the store's drivers are synchronous)."""

    async def run(items: list[T]) -> Sequence[R]:
        return await asyncio.to_thread(work, items)

    return run


class GroupCommit(Generic[T, R]):
    """Runs ``await work(items) -> results`` for batches of concurrently submitted items."""

    def __init__(
        self,
        work: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 200,
        max_wait: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.work = work
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.monotonic = monotonic
        self._pending: list[tuple[T, asyncio.Future[R], float]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0  # how many batches ran, and how many items they held
        self.items = 0

    @property
    def waiting(self) -> int:
        """Items submitted and not yet in a running batch."""
        return len(self._pending)

    async def submit(self, item: T, *, since: float | None = None) -> R:
        """The result for ``item`` once its batch has run; raises what the batch raised, or
        :class:`Overloaded` when ``max_wait`` passes before its batch starts. ``max_wait``
        counts from ``since`` (a ``monotonic`` reading: when the request arrived, say), by
        default from now."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future, self.monotonic() if since is None else since))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain(), name="group-commit")
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            live = [(item, future) for item, future, since in batch if self._admit(future, since)]
            if not live:
                continue
            try:
                results = await self.work([item for item, _ in live])
            except Exception as exc:
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.items += len(live)
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)

    def _admit(self, future: asyncio.Future[R], since: float) -> bool:
        """Whether a waiting item joins the batch starting now."""
        if future.done():  # its submitter gave up (cancelled)
            return False
        waited = self.monotonic() - since
        if self.max_wait is not None and waited > self.max_wait:
            future.set_exception(Overloaded(f"waited {waited:.1f} s for its turn"))
            return False
        return True
