"""Admission control for publishes: past what the ingest can hold, answer 503 at once.

An ingest whose event loop is saturated does not refuse anything by itself: requests queue
inside the server (and in the clients' connection pools) until a publish takes tens of
seconds, which to a client looks like an outage. :class:`PublishAdmission` is an ASGI
middleware that counts the publishes in progress, from the moment the server hands a
request to the application until its answer is sent. Past ``max_in_flight`` a new publish
is answered ``503 overloaded`` with ``Retry-After`` before its body is read or its key is
checked, so a refusal costs a fraction of an accepted publish and the ingest keeps
answering quickly however much is offered. Nothing of a refused publish was stored:
sending it again later is safe.

An admitted publish carries its admission time (``time.monotonic()`` seconds) in the ASGI
scope's ``state`` (read it with :func:`admitted_at`), so the publish deadline
(``publish_deadline_seconds``, ``services.batching``) counts from the request's arrival,
not from when it reached the database queue.

Retry-After is RFC 9110 §10.2.3; 503 for overload is RFC 9110 §15.6.4.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from harborctl.ingest.errors import error_response
from harborctl.ingest.publish_route import publish_tenant_id
from harborctl.observability.metrics import Metrics

#: Key of the admission time in the ASGI scope's ``state`` (Starlette's ``request.state``).
ADMITTED_AT = "publish_admitted_at"

#: Seconds a refused publisher waits before sending again: a burst above capacity passes
#: within about a second, and a short wait keeps publishers' own queues small.
OVERLOADED_RETRY_AFTER_SECONDS = 1


def admitted_at(request: Request) -> float | None:
    """When :class:`PublishAdmission` admitted this request (monotonic seconds), or None
    for a request it did not see (an app built without it, in a test)."""
    value = request.scope.get("state", {}).get(ADMITTED_AT)
    return value if isinstance(value, float) else None


class PublishAdmission:
    """ASGI middleware: at most ``max_in_flight`` publishes in progress; the next one is
    answered ``503 {"error": {"code": "overloaded", ...}}`` with ``Retry-After`` at once and
    counted in ``harborhook_publish_refused_total{reason="in_flight"}``. Other requests
    pass through untouched."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        metrics: Metrics,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.app = app
        self.max_in_flight = max_in_flight
        self.metrics = metrics
        self.monotonic = monotonic
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if publish_tenant_id(scope) is None:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            self.metrics.refused("in_flight")
            response = error_response(
                503,
                "overloaded",
                f"try again later: {self.in_flight} publishes are already in progress",
            )
            response.headers["Retry-After"] = str(OVERLOADED_RETRY_AFTER_SECONDS)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[ADMITTED_AT] = self.monotonic()
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
