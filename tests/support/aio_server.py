"""Run an aiohttp.web app on 127.0.0.1 (a free port) in a background thread, for sync tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web


@contextmanager
def serving(app: web.Application, startup_timeout: float = 10.0) -> Iterator[str]:
    """Yield the app's base URL while it runs; stop it afterwards."""
    started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Event, str]]
    started = concurrent.futures.Future()

    async def main() -> None:
        stop = asyncio.Event()
        runner = web.AppRunner(app, access_log=None)
        try:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        except BaseException as exc:
            started.set_exception(exc)
            return
        try:
            started.set_result((asyncio.get_running_loop(), stop, f"http://127.0.0.1:{port}"))
            await stop.wait()
        finally:
            await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="fake", daemon=True)
    thread.start()
    loop, stop, url = started.result(timeout=startup_timeout)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
