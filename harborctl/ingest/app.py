"""The ingest HTTP API (DESIGN.md "HTTP API"); OpenAPI at /docs.

``create_app`` assembles it: the runtime made in the lifespan (``runtime.py``), the error
handlers (``errors.py``) and the routes (``routes.py``), behind publish admission
(``admission.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from harborctl.ingest.admission import PublishAdmission
from harborctl.ingest.auth import KeyResolver
from harborctl.ingest.errors import install_error_handlers
from harborctl.ingest.fast_publish import PublishFastPath
from harborctl.ingest.routes import router
from harborctl.ingest.runtime import Runtime, utcnow
from harborctl.ingest.tracing import native_telemetry_excluded
from harborctl.observability.metrics import Metrics
from harborctl.queue.factory import make_publisher
from harborctl.services.publish import PublishService
from harborctl.services.replay import ReplayService
from harborctl.settings import Settings, ensure_admin_key
from harborctl.store import Store
from harborctl.store.database import migrate, use_store_threads


def create_app(settings: Settings, metrics: Metrics | None = None) -> ASGIApp:
    """The ASGI app uvicorn serves: the API, its publish route taken by
    :class:`PublishFastPath`, behind :class:`PublishAdmission`, outermost so that refusing
    a publish costs no routing, no key check and no body read."""
    used_metrics = metrics or Metrics()
    return PublishAdmission(
        PublishFastPath(create_api(settings, used_metrics)),
        max_in_flight=settings.publish_max_in_flight,
        metrics=used_metrics,
    )


def create_api(settings: Settings, metrics: Metrics) -> FastAPI:
    """The FastAPI application; its runtime is made when its lifespan starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        use_store_threads()
        store = Store.open(settings.resolved_database_url)
        await run_in_threadpool(migrate, store.engine)
        publisher = make_publisher(settings)
        await publisher.start()
        app.state.runtime = Runtime(
            settings=settings,
            store=store,
            publisher=publisher,
            metrics=metrics,
            keys=KeyResolver(store.admin, ensure_admin_key(settings)),
            publishing=PublishService(
                store.events,
                publisher,
                metrics,
                utcnow,
                max_wait=settings.publish_deadline_seconds,
            ),
            replays=ReplayService(store.events, publisher, utcnow),
        )
        try:
            yield
        finally:
            await publisher.close()
            store.dispose()

    app = FastAPI(
        title="HarborHook ingest API",
        version="1",
        description="Publish events; manage tenants, endpoints, subscriptions and the DLQ.",
        lifespan=lifespan,
        # FastAPI's request spans for the other routes; publish has its own server span
        telemetry={"exclude": native_telemetry_excluded, "operation_spans": False},
    )
    install_error_handlers(app)
    app.include_router(router)
    return app
