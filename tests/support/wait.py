"""Polling with a deadline instead of fixed sleeps.

``wait_until(predicate)`` calls ``predicate`` until it returns something truthy and returns
that value. When the deadline passes it raises ``AssertionError`` saying what was awaited
and what was seen last (the last value, or the last ignored exception).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

Describe = str | Callable[[], str]


class _LastSeen:
    """What the most recent poll produced, for the timeout message."""

    def __init__(self) -> None:
        self.text = "predicate was never called"

    def value(self, value: object) -> None:
        self.text = f"last value: {value!r}"

    def error(self, error: BaseException) -> None:
        self.text = f"last error: {type(error).__name__}: {error}"


def _timeout_message(describe: Describe, timeout: float, last: _LastSeen) -> str:
    what = describe() if callable(describe) else describe
    what = what or "condition"
    return f"timed out after {timeout:g}s waiting for {what}; {last.text}"


def wait_until(
    predicate: Callable[[], T | bool | None],
    timeout: float = 10,
    interval: float = 0.05,
    describe: Describe = "",
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Poll ``predicate`` until it returns a truthy value, and return that value.

    Exceptions of the types in ``ignore`` count as "not yet" (e.g. ``httpx.TransportError``
    while a server starts); any other exception propagates at once.
    """
    deadline = time.monotonic() + timeout
    last = _LastSeen()
    while True:
        try:
            result = predicate()
        except ignore as error:
            last.error(error)
        else:
            if result:
                return result  # type: ignore[return-value]
            last.value(result)
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_message(describe, timeout, last))
        time.sleep(interval)


async def wait_until_async(
    predicate: Callable[[], Awaitable[T | bool | None] | T | bool | None],
    timeout: float = 10,
    interval: float = 0.05,
    describe: Describe = "",
    ignore: tuple[type[Exception], ...] = (),
) -> T:
    """Like :func:`wait_until`, for use inside a running event loop.

    ``predicate`` may be a plain function or return an awaitable (e.g. an async function).
    """
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    last = _LastSeen()
    while True:
        try:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
        except ignore as error:
            last.error(error)
        else:
            if result:
                return result  # type: ignore[return-value]
            last.value(result)
        if time.monotonic() >= deadline:
            raise AssertionError(_timeout_message(describe, timeout, last))
        await asyncio.sleep(interval)
