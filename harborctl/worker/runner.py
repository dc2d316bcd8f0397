"""The worker process: wire transport, processor, reconciler and /metrics; drain on SIGTERM.

A worker started while its database does not answer (a supervisor restarting it during a
database outage) waits for it, retrying with backoff, instead of exiting: a supervisor gives
up on a program that keeps dying at start, which would leave the deliveries without workers
after the database came back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta

import uvloop
from aiohttp import web

from harborctl.domain.guards import EndpointGuards
from harborctl.domain.retry import RetryPolicy
from harborctl.observability.logging import setup_logging
from harborctl.observability.metrics import Metrics, exposition
from harborctl.observability.tracing import (
    WORKER_SERVICE,
    setup_tracing,
    shutdown_tracing,
    traced_handler,
)
from harborctl.outbound.http import WebhookClient
from harborctl.queue.base import Consumer, Publisher
from harborctl.queue.factory import make_consumer, make_publisher
from harborctl.services.delivery import DeliveryProcessor
from harborctl.services.lifecycle import EndpointLifecycle
from harborctl.settings import Settings
from harborctl.store import Store
from harborctl.store.database import migrate_when_reachable, use_store_threads
from harborctl.store.work import WorkRepository
from harborctl.worker.reconciler import Reconciler

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Worker:
    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self.stopping = asyncio.Event()
        self._stop_requested = threading.Event()
        self.metrics_port: int | None = None
        self.store: Store | None = None
        self.consumer: Consumer | None = None
        self.publisher: Publisher | None = None
        self.reconciler: Reconciler | None = None

    def stop(self) -> None:
        self.stopping.set()
        self._stop_requested.set()  # the same, for what waits in a thread

    async def run(self) -> None:
        s = self.settings
        use_store_threads()
        store = self.store = Store.open(s.resolved_database_url)
        if not await self._migrate_when_reachable(store):
            store.dispose()
            log.info("worker %s stopped before the database answered", self.worker_id)
            return
        lease = timedelta(seconds=s.delivery_lease_seconds)
        client = WebhookClient(
            connect_timeout=s.connect_timeout,
            total_timeout=s.total_timeout,
            max_connections=s.worker_max_in_flight,
            allow=s.outbound_allow,
        )
        await client.start()
        publisher = self.publisher = make_publisher(s)
        await publisher.start()
        consumer = self.consumer = make_consumer(
            s, store.work, worker_id=self.worker_id, lease=lease, clock=utcnow
        )
        self.metrics.worker_backlog.set_function(lambda: consumer.held)
        processor = self._processor(store, client, publisher, lease)
        metrics_runner = await self._serve_metrics()
        tasks = self._start(consumer, processor, store.work, publisher)
        log.info(
            "worker %s started: transport=%s max_in_flight=%d metrics=:%s",
            self.worker_id,
            s.transport,
            s.worker_max_in_flight,
            self.metrics_port,
        )
        try:
            await self._until_stopped(consumer, tasks)
        finally:
            await publisher.close()
            await client.close()
            await metrics_runner.cleanup()
            store.dispose()
            log.info("worker %s stopped", self.worker_id)

    async def _migrate_when_reachable(self, store: Store) -> bool:
        """Migrate, waiting for a database that does not answer yet (in a thread:
        ``migrate_when_reachable``); False when asked to stop before it answered."""
        return await asyncio.to_thread(
            migrate_when_reachable,
            store.engine,
            self.settings.resolved_database_url,
            self._stop_requested.wait,  # True once stop() set it
        )

    def _processor(
        self, store: Store, client: WebhookClient, publisher: Publisher, lease: timedelta
    ) -> DeliveryProcessor:
        s = self.settings
        failing = s.disable_failing_endpoint_after_seconds
        return DeliveryProcessor(
            work=store.work,
            client=client,
            dead_letters=publisher,
            guards=EndpointGuards(
                default_rps=s.rate_limit_rps,
                burst=s.rate_limit_burst,
                failure_threshold=s.breaker_failure_threshold,
                cooldown_seconds=s.breaker_cooldown_seconds,
            ),
            policy=RetryPolicy(
                base_seconds=s.retry_base_seconds,
                factor=s.retry_factor,
                cap_seconds=s.retry_cap_seconds,
                max_attempts=s.max_attempts,
            ),
            metrics=self.metrics,
            worker_id=self.worker_id,
            lease=lease,
            clock=utcnow,
            lifecycle=EndpointLifecycle(
                store.admin, self.metrics, timedelta(seconds=failing) if failing else None
            ),
        )

    def _start(
        self,
        consumer: Consumer,
        processor: DeliveryProcessor,
        work: WorkRepository,
        publisher: Publisher,
    ) -> list[asyncio.Task[None]]:
        """The consumer feeding the processor, and on nsq the reconciler beside it."""
        s = self.settings
        handler = traced_handler(
            processor,
            system=s.transport,
            destination=s.deliveries_topic if s.transport == "nsq" else "deliveries",
        )
        tasks = [asyncio.create_task(consumer.run(handler), name="consumer")]
        if s.transport == "nsq":
            self.reconciler = Reconciler(
                work,
                publisher,
                older_than=timedelta(seconds=s.reconcile_after_seconds),
                interval=s.reconcile_interval_seconds,
                clock=utcnow,
            )
            tasks.append(asyncio.create_task(self.reconciler.run(self.stopping), name="reconciler"))
        return tasks

    async def _until_stopped(self, consumer: Consumer, tasks: list[asyncio.Task[None]]) -> None:
        """Run until asked to stop (a task ending first is an error), then drain for up to
        ``worker_shutdown_grace`` seconds."""
        stop_waiter = asyncio.create_task(self.stopping.wait())
        await asyncio.wait([stop_waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and not self.stopping.is_set():
                stop_waiter.cancel()
                raise RuntimeError(f"worker {task.get_name()} stopped unexpectedly") from (
                    task.exception()
                )
        log.info("worker %s draining %d in-flight deliveries", self.worker_id, consumer.held)
        consumer.stop()
        _done, pending = await asyncio.wait(tasks, timeout=self.settings.worker_shutdown_grace)
        for task in pending:  # unfinished messages are redelivered; leases expire
            task.cancel()

    async def _serve_metrics(self) -> web.AppRunner:
        async def metrics(request: web.Request) -> web.Response:
            body, content_type = exposition(self.metrics.registry, request.headers.get("Accept"))
            return web.Response(body=body, headers={"Content-Type": content_type})

        async def healthz(_: web.Request) -> web.Response:
            return web.json_response({"status": "ok", "worker_id": self.worker_id})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.ingest_host, self.settings.worker_metrics_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.metrics_port = sockets[0].getsockname()[1] if sockets else None
        return runner


def run_worker(settings: Settings) -> None:
    setup_logging(settings, WORKER_SERVICE)
    setup_tracing(settings, WORKER_SERVICE)

    async def main() -> None:
        worker = Worker(settings)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run()

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    finally:
        shutdown_tracing()  # flush the spans still queued (SIGTERM drains, then this)
