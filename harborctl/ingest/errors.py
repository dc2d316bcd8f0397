"""Every error answers ``{"error": {"code", "message", "field"?}}``.

A database or queue that does not answer is 503 with ``Retry-After`` (RFC 9110 §10.2.3):
the request may be sent again then (a publish with the same ``idempotency_key``, so an
event stored just before the failure is not stored twice). Its message says which part is
unavailable; the cause (addresses, driver messages) goes to the log, not to the client.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from harborctl.errors import (
    Conflict,
    NotFound,
    Overloaded,
    StoreError,
    TransportError,
    Unauthorized,
    ValidationError,
)

log = logging.getLogger(__name__)

#: Seconds a client waits before retrying a 503 from a database or nsqd that does not
#: answer: a restart or a failover is usually over within seconds, and a short wait keeps
#: a publisher's backlog small. (An overloaded ingest names its own, shorter, wait.)
UNAVAILABLE_RETRY_AFTER_SECONDS = 2


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return JSONResponse({"error": body}, status_code=status)


def unavailable(code: str, message: str) -> JSONResponse:
    """503 with ``Retry-After``: the same request may be sent again after that long."""
    response = error_response(503, code, message)
    response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response


#: The methods RFC 9110 (§9.3) and RFC 5789 (PATCH) define, probed for ``Allow``.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")


def _allowed_methods(request: Request) -> str:
    """The methods some route takes at the request's path. Starlette's own ``Allow`` names
    only the first route there, so ``PUT /v1/tenants`` said POST and not GET."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    )


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ValidationError)
    async def _invalid(_: Request, exc: ValidationError) -> JSONResponse:
        return error_response(exc.status_code, exc.code, exc.message, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            return error_response(400, "malformed_json", "request body is not valid JSON", "body")
        field = _field_of(first.get("loc", ()))
        return error_response(422, "invalid", f"{field}: {first.get('msg')}", field)

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        response = error_response(401, "unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> JSONResponse:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return unavailable("store_unavailable", "the database is unavailable")

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, exc: Overloaded) -> JSONResponse:
        response = error_response(503, "overloaded", f"try again later: {exc}")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(TransportError)
    async def _transport(request: Request, exc: TransportError) -> JSONResponse:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return unavailable("transport_unavailable", "the queue is unavailable")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Starlette's own answers (no such route, method not allowed, ...), in our shape and
        with their headers: a 405 names the methods the route has in ``Allow`` (RFC 9110
        §15.5.6)."""
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = error_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = _allowed_methods(request)
        return response
