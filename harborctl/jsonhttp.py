"""The base of the project's JSON HTTP clients (ingest API, Alertmanager, Tempo, Loki).

One ``httpx.Client`` bound to one base URL, and the adapter where httpx's errors become the
project's: a request that gets no answer raises ``transport_error(...)`` (``ServiceError``
naming the service unless a client says more), a body that is not a JSON object raises
``bad_body_error(...)``. What a status code means is each client's own business.

httpx is right here: these clients send a few requests per second (DESIGN.md, performance
notes); the worker's delivery path uses aiohttp instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

import httpx

from harborctl.errors import HarborHookError, ServiceError

DEFAULT_TIMEOUT = 10.0  # seconds, connect and each read
_MAX_TEXT = 200


class JsonHttpClient:
    """A client of one JSON HTTP API at ``base_url``; close it (or use ``with``).

    ``service`` names the other side in error messages ("Tempo", "Alertmanager", ...).
    """

    service = "the service"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """The answer to ``method path`` (``path`` under the base URL), whatever its status;
        raises ``transport_error(...)`` when there is no answer. ``content`` is a JSON body
        already encoded (sent as is, ``Content-Type: application/json``)."""
        if content is not None:
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            return self._http.request(
                method, path, json=json, content=content, params=params, headers=headers
            )
        except httpx.HTTPError as exc:
            raise self.transport_error(exc, method, path) from exc

    def transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> HarborHookError:
        """The project's error for a request that got no answer (refused, timeout, broken)."""
        return ServiceError(f"{self.service} at {self.base_url} is unreachable: {exc}")

    def json_object(self, response: httpx.Response, path: str) -> dict[str, Any]:
        """The body of the answer to ``path`` as a JSON object, else ``bad_body_error``."""
        body = json_or_none(response)
        if not isinstance(body, dict):
            raise self.bad_body_error(response, path)
        return body

    def bad_body_error(self, response: httpx.Response, path: str) -> HarborHookError:
        """The project's error for an answer whose body is not the JSON object expected."""
        return ServiceError(
            f"{self.service} answered {path} with something that is not a JSON object: "
            f"{short_text(response.text)}"
        )


def json_or_none(response: httpx.Response) -> Any:
    """The body parsed as JSON; None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks too) as one space."""
    return re.sub(r"\s+", " ", text).strip()


def short_text(text: str) -> str:
    """A short, single-line excerpt of a body, markup stripped (an HTML error page, say)."""
    text = one_line(re.sub(r"<[^>]+>", " ", text))
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 3] + "..."
    return text
