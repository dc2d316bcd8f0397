"""Run the ingest API under uvicorn."""

from __future__ import annotations

import uvicorn

from harborctl.ingest.app import create_app
from harborctl.settings import Settings


def serve(settings: Settings) -> None:
    uvicorn.run(
        create_app(settings),
        host=settings.ingest_host,
        port=settings.ingest_port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
