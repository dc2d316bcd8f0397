"""The local test receiver: an aiohttp.web app answering POSTs by scripted behaviour.

Behaviours come from the path (grammar in :mod:`harborctl.receiver.behaviours`); every POST
is recorded, with its Standard Webhooks signature checked when a secret is configured.

Inspection API (reserved paths)::

    GET  /_received[?path=&webhook_id=&label=&limit=]  {"received": [record, ...]} oldest first
    GET  /_count[?path=]                               {"count": n} POSTs since the last reset
    POST /_reset                                       clear records and counters (not the file)
    GET  /healthz                                      {"status": "ok"}

Control::

    POST /_switch  {"path": "/dead/status/500", "to": "/ok"}
                   from now on answer POSTs to ``path`` as the behaviour ``to`` selects
                   (``to`` may carry options: ``/fail/2?status=429``); ``"to": null`` undoes
                   it. Records keep the path that was POSTed to, its counter goes on.
    GET  /_switch  {"switches": {path: to, ...}}

A switch is how an endpoint whose URL cannot change "recovers" (``harborctl demo`` heals its
dead endpoint this way); ``/_reset`` does not undo switches.

Ways to run it: :func:`serve` (blocking, the CLI), :class:`ReceiverRunner` (async context
manager in the current loop) and :func:`running_receiver` (background thread, for sync tests).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl

from aiohttp import web

from harborctl.domain import signing
from harborctl.errors import ConfigError, NotFound, ValidationError
from harborctl.receiver.behaviours import Behaviour, Decision, Kind, decide, parse
from harborctl.receiver.records import DEFAULT_MAX_RECORDS, Record, RecordStore

RESERVED_PATHS: dict[str, tuple[str, ...]] = {
    "/_received": ("GET",),
    "/_count": ("GET",),
    "/_reset": ("POST",),
    "/_switch": ("GET", "POST"),
    "/healthz": ("GET",),
}
CLIENT_MAX_SIZE = 8 * 1024 * 1024  # above the platform's 1 MiB payload limit on purpose
SHUTDOWN_TIMEOUT = 5.0


@dataclass(slots=True)
class _State:
    store: RecordStore
    secret: str | None
    tolerance_seconds: int
    clock: Callable[[], float]
    log_requests: bool
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    switches: dict[str, str] = field(default_factory=dict)  # path -> behaviour path (+ query)


STATE = web.AppKey("receiver_state", _State)


def create_app(
    secret: str | None = None,
    record_file: Path | None = None,
    *,
    max_records: int = DEFAULT_MAX_RECORDS,
    tolerance_seconds: int = signing.DEFAULT_TOLERANCE_SECONDS,
    clock: Callable[[], float] = time.time,
    log_requests: bool = False,
) -> web.Application:
    """The receiver app; ConfigError when ``secret`` is not a valid ``whsec_`` secret."""
    if secret is not None:
        try:
            signing.validate_secret(secret)
        except ValidationError as exc:
            raise ConfigError("secret", exc.message) from exc
    state = _State(
        store=RecordStore(record_file, max_records),
        secret=secret,
        tolerance_seconds=tolerance_seconds,
        clock=clock,
        log_requests=log_requests,
    )
    app = web.Application(client_max_size=CLIENT_MAX_SIZE)
    app[STATE] = state
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/_received", _received)
    app.router.add_get("/_count", _count)
    app.router.add_post("/_reset", _reset)
    app.router.add_get("/_switch", _switches)
    app.router.add_post("/_switch", _switch)
    app.router.add_route("*", "/{tail:.*}", _scripted)
    app.on_shutdown.append(_on_shutdown)
    app.on_cleanup.append(_on_cleanup)
    return app


async def _on_shutdown(app: web.Application) -> None:
    app[STATE].stopping.set()  # wakes /hang and /slow handlers so shutdown is prompt


async def _on_cleanup(app: web.Application) -> None:
    app[STATE].store.close()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _received(request: web.Request) -> web.Response:
    store = request.app[STATE].store
    query = request.query
    records = store.select(
        path=query.get("path"), webhook_id=query.get("webhook_id"), label=query.get("label")
    )
    if "limit" in query:
        raw = query["limit"]
        if not (raw.isascii() and raw.isdigit()):
            return _error(400, "invalid", f"limit must be a non-negative integer, got {raw!r}")
        records = records[len(records) - int(raw) :] if int(raw) else []
    return web.json_response({"received": records})


async def _count(request: web.Request) -> web.Response:
    return web.json_response({"count": request.app[STATE].store.count(request.query.get("path"))})


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE].store.reset()
    return web.json_response({"reset": True})


async def _switches(request: web.Request) -> web.Response:
    return web.json_response({"switches": request.app[STATE].switches})


async def _switch(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read())
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        return _error(400, "invalid", 'body must be {"path": "/...", "to": "/..." or null}')
    path, target = body["path"], body.get("to")
    if not path.startswith("/") or path in RESERVED_PATHS:
        return _error(400, "invalid", f"path {path!r} is not a path to POST webhooks to")
    switches = request.app[STATE].switches
    if target is None:
        switches.pop(path, None)
        return web.json_response({"switches": switches})
    if not isinstance(target, str) or not target.startswith("/"):
        return _error(400, "invalid", '"to" must be a behaviour path such as "/ok", or null')
    try:
        _behaviour_of(target)
    except NotFound as exc:
        return _error(400, "invalid", f'"to": {exc}')
    except ValidationError as exc:
        return _error(400, "invalid", f'"to": {exc.message}')
    switches[path] = target
    return web.json_response({"switches": switches})


def _behaviour_of(target: str) -> Behaviour:
    """The behaviour a ``/_switch`` target names (``/fail/2?status=429``)."""
    path, _, query = target.partition("?")
    return parse(path, dict(parse_qsl(query)))


async def _scripted(request: web.Request) -> web.StreamResponse:
    if request.path in RESERVED_PATHS:
        raise web.HTTPMethodNotAllowed(request.method, list(RESERVED_PATHS[request.path]))
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["POST"])
    state = request.app[STATE]
    body = await request.read()
    attempt = state.store.next_attempt(request.path)
    valid, sig_error = _verify(state, request.headers, body)

    behaviour_name: str | None = None
    label: str | None = None
    error: tuple[int, str, str] | None = None
    decision: Decision | None = None
    switched = state.switches.get(request.path)
    try:
        behaviour = _behaviour_of(switched) if switched else parse(request.path, request.query)
    except NotFound as exc:
        error = (404, "not_found", f"{exc}; see `harborctl run receiver --help`")
    except ValidationError as exc:
        error = (400, "invalid", exc.message)
    else:
        behaviour_name, label = behaviour.kind.value, behaviour.label
        nth = attempt
        if behaviour.kind is Kind.FLAKY:
            nth = state.store.next_delivery_attempt(
                request.path, request.headers.get(signing.HEADER_ID)
            )
        decision = decide(behaviour, nth, valid)
    status = error[0] if error else decision.status if decision else None

    record = _record(request, body, attempt, behaviour_name, label, valid, sig_error, status)
    state.store.add(record)
    if state.log_requests:
        _log(
            "received",
            path=record["path"],
            attempt=attempt,
            status=status,
            webhook_id=record["webhook_id"],
            signature_valid=valid,
            signature_error=sig_error,
        )

    if error is not None:
        return _error(*error)
    assert decision is not None
    if decision.hang:
        await state.stopping.wait()
        if request.transport is not None:
            request.transport.close()  # the receiver stops: drop the connection, never answer
        raise asyncio.CancelledError
    if decision.delay:
        with suppress(TimeoutError):
            await asyncio.wait_for(state.stopping.wait(), decision.delay)
    assert decision.status is not None
    if decision.status == 401 and valid is False:
        return _error(401, "invalid_signature", sig_error or "invalid signature")
    if decision.status in (204, 304):
        return web.Response(status=decision.status, headers=decision.headers)
    if decision.body_bytes:
        return await _generated_body(request, decision, state.stopping)
    payload = {"status": decision.status, "behaviour": behaviour_name, "attempt": attempt}
    return web.json_response(payload, status=decision.status, headers=decision.headers)


async def _generated_body(
    request: web.Request, decision: Decision, stopping: asyncio.Event
) -> web.StreamResponse:
    """A 200 whose headers go out at once and whose body follows slowly or at length."""
    response = web.StreamResponse(status=200, headers=decision.headers)
    response.content_length = decision.body_bytes
    await response.prepare(request)
    chunk = 1 if decision.byte_interval else 64 * 1024
    sent = 0
    with suppress(ConnectionError):  # the client has what it wanted and hung up
        while sent < decision.body_bytes and not stopping.is_set():
            size = min(chunk, decision.body_bytes - sent)
            await response.write(b"x" * size)
            sent += size
            if decision.byte_interval:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), decision.byte_interval)
    return response


def _verify(
    state: _State, headers: Mapping[str, str], body: bytes
) -> tuple[bool | None, str | None]:
    if state.secret is None:
        return None, None
    try:
        signing.verify(state.secret, headers, body, int(state.clock()), state.tolerance_seconds)
    except signing.SignatureError as exc:
        return False, f"{exc.field}: {exc.message}"
    return True, None


def _record(
    request: web.Request,
    body: bytes,
    attempt: int,
    behaviour: str | None,
    label: str | None,
    valid: bool | None,
    sig_error: str | None,
    status: int | None,
) -> Record:
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Record(
        received_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        method=request.method,
        path=request.path,
        query=request.query_string,
        attempt=attempt,
        behaviour=behaviour,
        label=label,
        headers=headers,
        body=body.decode("utf-8", errors="replace"),
        webhook_id=headers.get(signing.HEADER_ID),
        webhook_timestamp=headers.get(signing.HEADER_TIMESTAMP),
        x_trace_id=headers.get("x-trace-id"),
        signature_valid=valid,
        signature_error=sig_error,
        status=status,
    )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _log(msg: str, **fields: Any) -> None:
    line = {
        "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "level": "info",
        "logger": "harborctl.receiver",
        "msg": msg,
        **fields,
    }
    sys.stdout.write(json.dumps(line, default=str) + "\n")
    sys.stdout.flush()


class ReceiverRunner:
    """Run the receiver in the current event loop: ``async with ReceiverRunner() as r: r.url``.

    ``port=0`` picks a free port. ``records`` gives direct access to what arrived.
    """

    def __init__(
        self,
        secret: str | None = None,
        record_file: Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **app_options: Any,
    ) -> None:
        self.app = create_app(secret, record_file, **app_options)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def records(self) -> RecordStore:
        return self.app[STATE].store

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:43121``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        runner = web.AppRunner(
            self.app,
            handle_signals=False,
            access_log=None,
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ConfigError("port", f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


@contextmanager
def running_receiver(
    secret: str | None = None,
    record_file: Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Run the receiver in a background thread (own event loop); yield its base URL."""
    started: concurrent.futures.Future[tuple[asyncio.AbstractEventLoop, asyncio.Event, str]]
    started = concurrent.futures.Future()

    async def main() -> None:
        stop = asyncio.Event()
        try:
            runner = ReceiverRunner(secret, record_file, host=host, port=port)
            await runner.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        try:
            started.set_result((asyncio.get_running_loop(), stop, runner.url))
            await stop.wait()
        finally:
            await runner.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), name="receiver", daemon=True)
    thread.start()
    loop, stop, url = started.result(timeout=startup_timeout)
    try:
        yield url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=SHUTDOWN_TIMEOUT + 5.0)


def serve(
    host: str = "127.0.0.1",
    port: int = 9000,
    secret: str | None = None,
    record_file: Path | None = None,
) -> None:
    """Run the receiver until SIGINT/SIGTERM; log one JSON line with the URL once listening."""
    asyncio.run(_serve(host, port, secret, record_file))


async def _serve(host: str, port: int, secret: str | None, record_file: Path | None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with ReceiverRunner(
        secret, record_file, host=host, port=port, log_requests=True
    ) as runner:
        _log(
            "receiver listening",
            url=runner.url,
            verify_signatures=secret is not None,
            record_file=str(record_file) if record_file else None,
        )
        await stop.wait()
        _log("receiver stopping")
    _log("receiver stopped")
