"""Run the ingest API under uvicorn, with JSON logs and tracing set up first."""

from __future__ import annotations

import uvicorn

from harborctl.ingest.app import create_app
from harborctl.observability.logging import setup_logging
from harborctl.observability.tracing import INGEST_SERVICE, setup_tracing, shutdown_tracing
from harborctl.settings import Settings


def serve(settings: Settings) -> None:
    setup_logging(settings, INGEST_SERVICE)
    setup_tracing(settings, INGEST_SERVICE)
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.ingest_host,
            port=settings.ingest_port,
            log_config=None,  # our JSON logging stays in charge
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        shutdown_tracing()  # flush the spans still queued
