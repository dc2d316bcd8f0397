"""Group commit: batches form from what arrives while one runs, each submitter gets its own
result, and a deadline refuses work before it is done."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from harborctl.errors import Overloaded
from harborctl.services.batching import GroupCommit, in_thread


def test_concurrent_submits_share_batches_and_get_their_own_results() -> None:
    seen: list[list[int]] = []

    async def work(items: list[int]) -> Sequence[int]:
        seen.append(items)
        await asyncio.sleep(0.01)  # the batch takes a while: others gather behind it
        return [item * 10 for item in items]

    async def main() -> list[int]:
        batcher = GroupCommit(work, max_batch=50)
        alone = await batcher.submit(-1)  # an idle batcher runs an item at once, alone
        return [alone, *await asyncio.gather(*(batcher.submit(i) for i in range(120)))]

    assert asyncio.run(main()) == [-10, *(i * 10 for i in range(120))]
    assert seen[0] == [-1]
    assert [len(batch) for batch in seen[1:]] == [50, 50, 20]
    assert sorted(i for batch in seen[1:] for i in batch) == list(range(120))


def test_a_failing_batch_fails_its_items_only() -> None:
    async def work(items: list[int]) -> Sequence[int]:
        await asyncio.sleep(0)
        if 3 in items:
            raise RuntimeError("boom")
        return items

    async def main() -> list[int | BaseException]:
        batcher = GroupCommit(work, max_batch=1)
        return await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)

    results = asyncio.run(main())
    assert [r for r in results if not isinstance(r, BaseException)] == [0, 1, 2, 4]
    assert isinstance(results[3], RuntimeError)


def test_sync_work_runs_in_a_thread() -> None:
    import threading

    threads: set[str] = set()

    def work(items: list[int]) -> list[int]:
        threads.add(threading.current_thread().name)
        return items

    async def main() -> int:
        return await GroupCommit(in_thread(work)).submit(7)

    assert asyncio.run(main()) == 7
    assert threading.main_thread().name not in threads


def test_an_item_that_waited_past_the_deadline_is_refused_and_never_run() -> None:
    ran: list[int] = []
    clock = [0.0]

    async def work(items: list[int]) -> Sequence[int]:
        ran.extend(items)
        clock[0] += 10.0  # this batch takes "10 s"
        await asyncio.sleep(0)
        return items

    async def main() -> list[int | BaseException]:
        batcher = GroupCommit(work, max_batch=1, max_wait=5.0, monotonic=lambda: clock[0])
        return await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert first == 0
    assert isinstance(second, Overloaded) and isinstance(third, Overloaded)
    assert ran == [0]


def test_the_deadline_counts_from_since_when_given() -> None:
    clock = [100.0]

    async def work(items: list[int]) -> Sequence[int]:
        return items

    async def main() -> list[int | BaseException]:
        batcher = GroupCommit(work, max_wait=5.0, monotonic=lambda: clock[0])
        return await asyncio.gather(
            batcher.submit(1, since=94.0),  # arrived 6 s ago: past the deadline already
            batcher.submit(2, since=96.0),  # 4 s ago: still in time
            return_exceptions=True,
        )

    late, in_time = asyncio.run(main())
    assert isinstance(late, Overloaded)
    assert in_time == 2


def test_max_batch_must_be_positive() -> None:
    async def work(items: list[int]) -> Sequence[int]:
        return items

    with pytest.raises(ValueError):
        GroupCommit(work, max_batch=0)
