"""The publish route served without the framework's per-request machinery.

Publishing is the ingest's hot path, and its route (``routes.publish``) reads its own body,
so FastAPI adds nothing to it but cost: under load its middleware stack, route matching,
dependency solving and response rendering took about half of the ingest's event loop
(py-spy), more than the publish itself. :class:`PublishFastPath` answers
``POST /v1/tenants/{tenant_id}/events:publish`` by calling the same functions the FastAPI
route calls (``principal`` for the key, ``routes.publish`` for the rest) and answering
errors with the app's own exception handlers, so both ways give the same answers; the
route stays registered in the app for the OpenAPI document and anything the fast path
does not take (another method, a path that is not exactly the publish path).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from harborctl.ingest.publish_route import publish_tenant_id
from harborctl.ingest.routes import publish
from harborctl.ingest.runtime import principal

ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]


class PublishFastPath:
    """ASGI app: publishes go straight to the route's code, the rest to ``api``."""

    def __init__(self, api: FastAPI) -> None:
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tenant_id = publish_tenant_id(scope)
        if tenant_id is None:
            await self.api(scope, receive, send)
        else:
            await self._publish(tenant_id, scope, receive, send)

    async def _publish(self, tenant_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self.api  # as Starlette sets it: the routes read the runtime from it
        request = Request(scope, receive)
        response: Response
        try:
            who = await principal(request, None)
            answer: dict[str, Any] = await publish(tenant_id, request, who)
            response = JSONResponse(answer, status_code=202)
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise  # as the framework does: the server answers 500 and logs it
            answered = handler(request, exc)
            response = await answered if inspect.isawaitable(answered) else answered
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        """The app's handler for ``exc``'s class or its nearest base (Starlette's rule)."""
        handlers: dict[Any, ExceptionHandler] = self.api.exception_handlers
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return None
