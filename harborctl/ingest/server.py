"""Run the ingest API under uvicorn, with JSON logs and tracing set up first."""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

from harborctl.ingest.app import create_app
from harborctl.observability.logging import setup_logging
from harborctl.observability.tracing import INGEST_SERVICE, setup_tracing, shutdown_tracing
from harborctl.settings import Settings

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stop_requested(_signum: int, _frame: FrameType | None) -> None:
    """Handler that uvicorn restores after its graceful shutdown and then re-raises the
    signal to: with it, the process goes on to flush its telemetry and exits 0 instead of
    dying of the signal (exit 143) with the last spans still queued."""


def serve(settings: Settings) -> None:
    setup_logging(settings, INGEST_SERVICE)
    setup_tracing(settings, INGEST_SERVICE)
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop_requested)
    try:
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
