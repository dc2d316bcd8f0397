"""The outbound webhook POST, on aiohttp (see DESIGN.md's performance notes and its
outbound request contract).

aiohttp's exceptions stop here: callers get the domain's ``AttemptResult``, whose
``reason`` is one of the closed set in ``FailureReason``. Redirects are not followed.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import aiohttp

from harborctl.domain.attempt import AttemptResult
from harborctl.domain.models import FailureReason
from harborctl.observability.tracing import client_trace_configs

MAX_ERROR_TEXT = 500  # characters of an error kept for the record


class WebhookClient:
    """One pooled aiohttp session per worker process."""

    def __init__(self, *, connect_timeout: float, total_timeout: float, max_connections: int):
        self.timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=60)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            headers={"User-Agent": "HarborHook/0.1"},
            auto_decompress=False,
            trace_configs=client_trace_configs(),  # a CLIENT span per POST
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> AttemptResult:
        """POST ``body`` to ``url``; failures (timeouts, refused connections, non-2xx) come
        back as the result, never as an exception. The answer's body is drained, not kept."""
        assert self._session is not None, "WebhookClient.start() first"
        started = time.perf_counter()
        try:
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                await response.read()  # drain, so the connection goes back to the pool
                status = response.status
                elapsed = time.perf_counter() - started
                if 200 <= status < 300:
                    return AttemptResult(status, elapsed)
                return AttemptResult(
                    status,
                    elapsed,
                    retry_after=response.headers.get("Retry-After"),
                    reason=FailureReason.for_status(status),
                    error=f"HTTP {status} {response.reason or ''}".strip(),
                )
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            return self._failed(started, FailureReason.TIMEOUT, f"timed out: {exc!r}")
        except aiohttp.ClientConnectorError as exc:
            return self._failed(started, FailureReason.CONNECT_ERROR, str(exc))
        except aiohttp.ClientError as exc:
            return self._failed(started, FailureReason.ERROR, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _failed(started: float, reason: FailureReason, error: str) -> AttemptResult:
        return AttemptResult(
            None, time.perf_counter() - started, reason=reason, error=error[:MAX_ERROR_TEXT]
        )
