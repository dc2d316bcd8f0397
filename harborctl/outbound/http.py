"""The outbound webhook POST, on aiohttp (see DESIGN.md's performance notes and its
outbound request contract).

Every call ends in one ``AttemptResult`` whose ``reason`` is one of the closed set in
``FailureReason``, whatever is raised underneath (aiohttp's errors, the guard's refusals,
anything else): an attempt is always recorded. The outcome is decided by the status line;
the answer's body is read only up to ``excerpt_bytes`` (kept with non-2xx attempts, for
whoever debugs a 400) and for at most ``EXCERPT_READ_SECONDS``, within the total timeout,
so a receiver streaming a huge or endless body costs neither memory nor a false timeout;
a connection whose body was not read to its end is closed, not pooled. Redirects are not
followed. Connections go only to addresses the outbound request guard allows
(:mod:`harborctl.outbound.guard`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import aiohttp

from harborctl.domain.address_policy import IPNetwork, Verdict
from harborctl.domain.attempt import AttemptResult
from harborctl.domain.models import FailureReason
from harborctl.observability.tracing import client_span, mark_error
from harborctl.outbound.guard import ConnectGuard, refusals

JSON = "application/json"
MAX_ERROR_TEXT = 500  # characters of an error kept for the record
EXCERPT_BYTES = 1024  # bytes of an answer's body read (and kept with a non-2xx attempt)
EXCERPT_READ_SECONDS = 1.0  # the longest time spent reading them after the status line


class WebhookClient:
    """One pooled aiohttp session per worker process.

    ``connect_timeout`` bounds the TCP (and TLS) connect, ``total_timeout`` the whole
    exchange up to the status line and the body excerpt (seconds); ``allow`` opens address
    ranges the guard blocks by default.
    """

    def __init__(
        self,
        *,
        connect_timeout: float,
        total_timeout: float,
        max_connections: int,
        allow: Sequence[IPNetwork] = (),
        excerpt_bytes: int = EXCERPT_BYTES,
    ) -> None:
        self.total_timeout = total_timeout
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        self.max_connections = max_connections
        self.guard = ConnectGuard(allow)
        self.excerpt_bytes = excerpt_bytes
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            ttl_dns_cache=60,
            socket_factory=self.guard.socket_factory,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            headers={"User-Agent": "HarborHook/0.1"},
            auto_decompress=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> AttemptResult:
        """POST ``body`` to ``url`` in a CLIENT span (its ``traceparent`` sent along). Never
        raises (but for cancellation): failures come back as the result."""
        started = time.perf_counter()
        sent = dict(headers)
        with client_span("POST", url, sent) as span, refusals() as refused:
            try:
                self.guard.check_literal(url)  # spellings aiohttp would refuse to parse
                result = await self._exchange(url, body, sent, started)
            except Exception as exc:  # every way an attempt can end is recorded
                reason, error = _classify(exc, refused)
                result = AttemptResult(
                    None,
                    time.perf_counter() - started,
                    reason=reason,
                    error=error[:MAX_ERROR_TEXT],
                )
            if result.http_status is not None:
                span.set_attribute("http.response.status_code", result.http_status)
            if result.reason is not None:
                span.set_attribute("error.type", result.reason.value)
                mark_error(span, message=result.error)
            return result

    async def _exchange(
        self, url: str, body: bytes, headers: Mapping[str, str], started: float
    ) -> AttemptResult:
        assert self._session is not None, "WebhookClient.start() first"
        deadline = asyncio.get_running_loop().time() + self.total_timeout
        async with asyncio.timeout_at(deadline):
            response = await self._session.post(
                url,
                # a ready payload: aiohttp would otherwise look the body's type up in its
                # payload registry on every request
                data=aiohttp.BytesPayload(body, content_type=JSON),
                headers=headers,
                allow_redirects=False,
            )
        try:
            status = response.status
            excerpt = await self._excerpt(response, deadline)
        finally:
            if response.content.at_eof():
                response.release()  # read to its end: the connection goes back to the pool
            else:
                response.close()
        elapsed = time.perf_counter() - started
        if 200 <= status < 300:
            return AttemptResult(status, elapsed)
        return AttemptResult(
            status,
            elapsed,
            retry_after=response.headers.get("Retry-After"),
            reason=FailureReason.for_status(status),
            error=f"HTTP {status} {response.reason or ''}".strip(),
            response_excerpt=excerpt,
        )

    async def _excerpt(self, response: aiohttp.ClientResponse, deadline: float) -> bytes:
        """Up to ``excerpt_bytes`` of the body, read until the end, the cap or the budget."""
        budget = min(EXCERPT_READ_SECONDS, deadline - asyncio.get_running_loop().time())
        chunks: list[bytes] = []
        size = 0
        if budget <= 0:
            return b""
        try:
            async with asyncio.timeout(budget):
                while size < self.excerpt_bytes:
                    chunk = await response.content.read(self.excerpt_bytes - size)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
        except (TimeoutError, aiohttp.ClientError):
            pass  # the status line has decided; the body was only for the record
        return b"".join(chunks)


def _classify(exc: Exception, refused: list[Verdict]) -> tuple[FailureReason, str]:
    """The reason and error text of an attempt that got no status line."""
    if refused:
        return FailureReason.BLOCKED_ADDRESS, str(refused[0].reason)
    if isinstance(exc, TimeoutError):
        return FailureReason.TIMEOUT, "timed out before the status line"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return FailureReason.CONNECT_ERROR, str(exc)
    return FailureReason.ERROR, f"{type(exc).__name__}: {exc}"
