"""Run the ingest API under uvicorn, with JSON logs and tracing set up first.

An ingest started while its database does not answer (a supervisor restarting it during a
database outage) waits for it before it listens, retrying the start-up migration with
backoff, instead of exiting: a supervisor gives up on a program that keeps dying at start.
SIGTERM or SIGINT while it waits ends it with exit 0.
"""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import uvicorn

from harborctl.ingest.app import create_app
from harborctl.observability.logging import setup_logging
from harborctl.observability.tracing import INGEST_SERVICE, setup_tracing, shutdown_tracing
from harborctl.settings import Settings
from harborctl.store.database import make_engine, migrate_when_reachable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_POLL_SECONDS = 0.1

_stop_signals_seen: list[int] = []


def _stop_requested(signum: int, _frame: FrameType | None) -> None:
    """Handler that uvicorn restores after its graceful shutdown and then re-raises the
    signal to: with it, the process goes on to flush its telemetry and exits 0 instead of
    dying of the signal (exit 143) with the last spans still queued. Before uvicorn runs, it
    ends the wait for the database."""
    _stop_signals_seen.append(signum)


def _pause_unless_stopped(seconds: float) -> bool:
    """Sleep ``seconds``, less when a stop signal comes; whether one came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not _stop_signals_seen:
        time.sleep(STOP_POLL_SECONDS)
    return bool(_stop_signals_seen)


def _migrate_when_reachable(database_url: str) -> bool:
    """Migrate, waiting for a database that does not answer yet (``migrate_when_reachable``);
    False when a stop signal came before it answered."""
    engine = make_engine(database_url)
    try:
        return migrate_when_reachable(engine, database_url, _pause_unless_stopped)
    finally:
        engine.dispose()


def serve(settings: Settings) -> None:
    setup_logging(settings, INGEST_SERVICE)
    setup_tracing(settings, INGEST_SERVICE)
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_requested)
    try:
        if not _migrate_when_reachable(settings.resolved_database_url):
            log.info("ingest stopped before the database answered")
            return
        uvicorn.run(
            create_app(settings),
            host=settings.ingest_host,
            port=settings.ingest_port,
            loop="uvloop",  # DESIGN.md performance notes: the event loop and HTTP parser
            http="httptools",  # are per-request costs; both are C implementations
            log_config=None,  # our JSON logging stays in charge
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        shutdown_tracing()  # flush the spans still queued
