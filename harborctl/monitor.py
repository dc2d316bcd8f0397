"""The backlog monitor process: polls NSQ and the database, serves the result on /metrics.

``Monitor`` polls every ``monitor_poll_interval`` seconds into a ``BacklogCollector`` and
serves ``/metrics`` and ``/healthz`` with aiohttp (like the worker). ``run_monitor`` is
``harborctl run monitor``: it opens the database and hands its backlog count to the monitor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from harborctl.observability.backlog import BacklogSnapshot, BacklogStore, take_snapshot
from harborctl.observability.backlog_metrics import BacklogCollector
from harborctl.observability.logging import setup_logging
from harborctl.settings import Settings
from harborctl.store import Store

log = logging.getLogger(__name__)


class Monitor:
    """Polls on an interval into a ``BacklogCollector`` registered in its own registry.

    ``database`` is what counts the database's backlog (the events repository's
    ``count_by_status``); None leaves the database out of the snapshot.
    """

    def __init__(
        self,
        settings: Settings,
        database: BacklogStore | None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self.registry = registry or CollectorRegistry()
        self.collector = BacklogCollector()
        self.registry.register(self.collector)
        self.stopping = asyncio.Event()
        self.polls = 0
        self.port: int | None = None

    def poll_once(self) -> BacklogSnapshot:
        lookupds = (
            self.settings.nsqlookupd_http_addresses if self.settings.transport == "nsq" else None
        )
        snapshot = take_snapshot(lookupds, self.database)
        self.collector.update(snapshot)
        self.polls += 1
        for error in snapshot.errors:
            log.warning("backlog poll: %s", error)
        return snapshot

    async def poll_forever(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                await asyncio.to_thread(self.poll_once)
            except Exception:  # keep polling: the next poll may work
                log.exception("backlog poll failed")
            delay = max(0.0, self.settings.monitor_poll_interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)

    async def serve(self, host: str, port: int) -> web.AppRunner:
        async def metrics(_: web.Request) -> web.Response:
            body = generate_latest(self.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def healthz(_: web.Request) -> web.Response:
            snapshot = self.collector.snapshot
            return web.json_response(
                {
                    "status": "ok",
                    "polls": self.polls,
                    "last_poll": snapshot.taken_at if snapshot else None,
                    "errors": list(snapshot.errors) if snapshot else [],
                }
            )

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port
        return runner

    async def run(self) -> None:
        runner = await self.serve(self.settings.monitor_host, self.settings.monitor_port)
        log.info(
            "backlog monitor on %s:%s (transport %s, every %.1fs)",
            self.settings.monitor_host,
            self.port,
            self.settings.transport,
            self.settings.monitor_poll_interval,
        )
        try:
            await self.poll_forever()
        finally:
            await runner.cleanup()


def run_monitor(settings: Settings) -> None:
    """``harborctl run monitor``: until SIGTERM/SIGINT."""
    setup_logging(settings, "harborhook-monitor")
    store = Store.open(settings.resolved_database_url)

    async def main() -> None:
        monitor = Monitor(settings, store.events)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, monitor.stopping.set)
        await monitor.run()

    try:
        asyncio.run(main())
    finally:
        store.dispose()
