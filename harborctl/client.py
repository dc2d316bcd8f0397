"""ApiClient: the CLI's synchronous client of the ingest HTTP API (one method per route).

This is the adapter between httpx and the project: everything httpx or the API can throw
comes out as the project's own errors.

- the API answered an error (any status >= 400) -> ``ApiError(status, code, message, field)``,
  read from ``{"error": {...}}``; FastAPI's own ``{"detail": ...}`` answers and non-JSON
  bodies (a proxy's HTML page, say) are translated too, with a short one-line text;
- the API could not be reached (refused, DNS, connect timeout) -> ``HarborHookError``
  saying so and suggesting ``harborctl up``;
- a read timeout or a broken connection -> ``HarborHookError`` naming the URL.

Every method returns the API's JSON object as a plain dict (the CLI prints it as is with
``--json``), or ``None`` for the routes answering 204.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from harborctl import __version__
from harborctl.errors import ApiError, HarborHookError, ValidationError
from harborctl.jsonhttp import JsonHttpClient, json_or_none, one_line, short_text
from harborctl.settings import ensure_admin_key

if TYPE_CHECKING:
    from harborctl.settings import Settings

JsonObject = dict[str, Any]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class ApiClient(JsonHttpClient):
    """A typed client of the ingest API, bound to one base URL and one API key."""

    service = "the ingest API"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        key_source: str = "the given API key",
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": f"harborctl/{__version__}",
            },
            timeout=timeout,
            transport=transport,
        )
        self.key_source = key_source

    # -- health and tenants (admin key) ---------------------------------------------------

    def health(self) -> JsonObject:
        return self._object("GET", "/healthz")

    def create_tenant(self, name: str) -> JsonObject:
        """-> {tenant_id, name, api_key, created_at}"""
        return self._object("POST", "/v1/tenants", body={"name": name})

    def list_tenants(self) -> JsonObject:
        """-> {tenants: [{tenant_id, name, created_at}]}"""
        return self._object("GET", "/v1/tenants")

    # -- endpoints ------------------------------------------------------------------------

    def create_endpoint(
        self,
        tenant_id: str,
        url: str,
        *,
        secret: str | None = None,
        description: str | None = None,
        rate_limit_rps: float | None = None,
        max_attempts: int | None = None,
        breaker_failure_threshold: int | None = None,
    ) -> JsonObject:
        """-> {endpoint: {...}, secret} (the secret is shown only here)"""
        body = _without_none(
            url=url,
            secret=secret,
            description=description,
            rate_limit_rps=rate_limit_rps,
            max_attempts=max_attempts,
            breaker_failure_threshold=breaker_failure_threshold,
        )
        return self._object("POST", _tenant_path(tenant_id, "endpoints"), body=body)

    def list_endpoints(self, tenant_id: str) -> JsonObject:
        """-> {endpoints: [...]}"""
        return self._object("GET", _tenant_path(tenant_id, "endpoints"))

    def get_endpoint(self, tenant_id: str, endpoint_id: str) -> JsonObject:
        """-> {endpoint: {...}}"""
        path = _tenant_path(tenant_id, "endpoints", _segment("endpoint_id", endpoint_id))
        return self._object("GET", path)

    def update_endpoint(
        self, tenant_id: str, endpoint_id: str, changes: Mapping[str, Any]
    ) -> JsonObject:
        """PATCH the fields in ``changes`` (None clears description, rate_limit_rps,
        max_attempts, breaker_failure_threshold) -> {endpoint: {...}}"""
        path = _tenant_path(tenant_id, "endpoints", _segment("endpoint_id", endpoint_id))
        return self._object("PATCH", path, body=dict(changes))

    def rotate_secret(
        self,
        tenant_id: str,
        endpoint_id: str,
        *,
        secret: str | None = None,
        overlap_seconds: float | None = None,
    ) -> JsonObject:
        """-> {endpoint: {...}, secret} (the new secret is shown only here)"""
        segment = _segment("endpoint_id", endpoint_id) + ":rotate-secret"
        body = _without_none(secret=secret, overlap_seconds=overlap_seconds)
        return self._object("POST", _tenant_path(tenant_id, "endpoints", segment), body=body)

    def delete_endpoint(self, tenant_id: str, endpoint_id: str) -> None:
        path = _tenant_path(tenant_id, "endpoints", _segment("endpoint_id", endpoint_id))
        self._request("DELETE", path)

    # -- subscriptions --------------------------------------------------------------------

    def create_subscription(self, tenant_id: str, endpoint_id: str, event_type: str) -> JsonObject:
        """-> {subscription: {subscription_id, endpoint_id, event_type, created_at}}"""
        body = {"endpoint_id": endpoint_id, "event_type": event_type}
        return self._object("POST", _tenant_path(tenant_id, "subscriptions"), body=body)

    def list_subscriptions(self, tenant_id: str) -> JsonObject:
        """-> {subscriptions: [...]}"""
        return self._object("GET", _tenant_path(tenant_id, "subscriptions"))

    def delete_subscription(self, tenant_id: str, subscription_id: str) -> None:
        segment = _segment("subscription_id", subscription_id)
        self._request("DELETE", _tenant_path(tenant_id, "subscriptions", segment))

    # -- events and deliveries ------------------------------------------------------------

    def publish_event(
        self,
        tenant_id: str,
        event_type: str,
        payload: bytes | Any,
        *,
        idempotency_key: str | None = None,
    ) -> JsonObject:
        """-> {event_id, fanout_count, duplicate, trace_id}

        ``payload`` as ``bytes`` is JSON text sent exactly as given (the receivers get these
        bytes); any other value is encoded as JSON here.
        """
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        fields = [b'"event_type":' + json.dumps(event_type).encode(), b'"payload":' + raw]
        if idempotency_key is not None:
            fields.append(b'"idempotency_key":' + json.dumps(idempotency_key).encode())
        body = b"{" + b",".join(fields) + b"}"
        path = _tenant_path(tenant_id, "events:publish")
        return self._object("POST", path, content=body)

    def event_deliveries(self, tenant_id: str, event_id: str) -> JsonObject:
        """-> {event_id, deliveries: [delivery...]}"""
        segment = _segment("event_id", event_id)
        return self._object("GET", _tenant_path(tenant_id, "events", segment, "deliveries"))

    def list_deliveries(
        self,
        tenant_id: str,
        *,
        status: str | None = None,
        endpoint_id: str | None = None,
        limit: int | None = None,
    ) -> JsonObject:
        """-> {deliveries: [delivery...]}"""
        params = _without_none(status=status, endpoint_id=endpoint_id, limit=limit)
        return self._object("GET", _tenant_path(tenant_id, "deliveries"), params=params)

    def get_delivery(self, tenant_id: str, delivery_id: str) -> JsonObject:
        """-> {delivery: {...}, attempts: [...]}"""
        path = _tenant_path(tenant_id, "deliveries", _segment("delivery_id", delivery_id))
        return self._object("GET", path)

    def replay_delivery(self, tenant_id: str, delivery_id: str) -> JsonObject:
        """-> {delivery_id, replay_of}"""
        segment = _segment("delivery_id", delivery_id) + ":replay"
        return self._object("POST", _tenant_path(tenant_id, "deliveries", segment))

    # -- dead-letter queue ----------------------------------------------------------------

    def list_dlq(
        self,
        tenant_id: str,
        *,
        endpoint_id: str | None = None,
        since: str | None = None,
        limit: int | None = None,
    ) -> JsonObject:
        """-> {deliveries: [delivery...]}; ``since`` is ISO-8601."""
        params = _without_none(endpoint_id=endpoint_id, since=since, limit=limit)
        return self._object("GET", _tenant_path(tenant_id, "dlq"), params=params)

    def replay_dlq(
        self,
        tenant_id: str,
        *,
        endpoint_id: str | None = None,
        since: str | None = None,
        dry_run: bool = False,
    ) -> JsonObject:
        """-> {dry_run, replayed, deliveries: [{delivery_id, replay_of}]}"""
        body = _without_none(endpoint_id=endpoint_id, since=since)
        body["dry_run"] = dry_run
        return self._object("POST", _tenant_path(tenant_id, "dlq:replay"), body=body)

    # -- plumbing -------------------------------------------------------------------------

    def _object(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
    ) -> JsonObject:
        data = self._request(method, path, body=body, params=params, content=content)
        if data is None:
            raise HarborHookError(
                f"the ingest API at {self.base_url} answered {method} {path} with no body"
            )
        return data

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
    ) -> JsonObject | None:
        response = self.send(method, path, json=body, params=params, content=content)
        if response.status_code >= 400:
            hint = f"the key sent was {self.key_source}" if response.status_code == 401 else None
            raise api_error_from_response(response, hint=hint)
        if response.status_code == 204 or not response.content:
            return None
        return self.json_object(response, path)

    def transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> HarborHookError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return HarborHookError(
                f"cannot reach the ingest API at {self.base_url}: {_reason(exc)} "
                "(is it running? try `harborctl up`)"
            )
        if isinstance(exc, httpx.TimeoutException):
            return HarborHookError(
                f"the ingest API at {self.base_url} did not answer {method} {path} in time "
                f"({_reason(exc)})"
            )
        return HarborHookError(
            f"request to the ingest API at {self.base_url} failed: {_reason(exc)}"
        )

    def bad_body_error(self, response: httpx.Response, path: str) -> HarborHookError:
        return HarborHookError(
            f"the ingest API at {self.base_url} answered {response.request.method} {path} with "
            f"HTTP {response.status_code} but not a JSON object: {short_text(response.text)}"
        )


def api_error_from_response(response: httpx.Response, *, hint: str | None = None) -> ApiError:
    """Translate an error answer (status >= 400) into one ``ApiError``, whatever its body."""
    code, message, field = _error_parts(response)
    if hint:
        message = f"{message}; {hint}"
    return ApiError(response.status_code, code, message, field)


def _error_parts(response: httpx.Response) -> tuple[str, str, str | None]:
    """(code, one-line message, field) of an error answer."""
    status = response.status_code
    data: Any = json_or_none(response)

    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            code = error.get("code")
            field = error.get("field")
            return (
                code if isinstance(code, str) and code else _status_code_name(status),
                one_line(error["message"]),
                field if isinstance(field, str) and field else None,
            )
        detail = data.get("detail")  # FastAPI's own answers: unknown route, 405, 422
        if isinstance(detail, str):
            return _status_code_name(status), short_text(detail), None
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            first = detail[0]
            loc = [str(part) for part in first.get("loc", []) if part not in ("body", "query")]
            message = short_text(str(first.get("msg", "invalid request")))
            return "invalid", message, ".".join(loc) or None

    text = short_text(response.text) if response.text.strip() else ""
    message = response.reason_phrase or "error"
    if text:
        message = f"{message}: {text}"
    return _status_code_name(status), message, None


def client_from_settings(settings: Settings, key: str | None = None) -> ApiClient:
    """A client for ``settings.api_url``.

    Key precedence: ``key`` (``--api-key``) > ``settings.api_key`` (HARBORHOOK_API_KEY) >
    ``ensure_admin_key(settings)`` (HARBORHOOK_ADMIN_KEY or the admin key file).
    """
    if key:
        return ApiClient(
            settings.api_url, key, key_source="the given API key (--api-key or HARBORHOOK_API_KEY)"
        )
    if settings.api_key:
        return ApiClient(
            settings.api_url, settings.api_key, key_source="HARBORHOOK_API_KEY (api_key)"
        )
    return ApiClient(
        settings.api_url,
        ensure_admin_key(settings),
        key_source=f"the admin key (HARBORHOOK_ADMIN_KEY or {settings.layout.admin_key_file})",
    )


def open_client(
    api_url: str | None, api_key: str | None = None, *, admin: bool = False
) -> ApiClient:
    """The CLI's way in: load the settings (``api_url`` overridden when given) and connect.

    With ``admin=True`` the key is ``api_key`` or else the admin key, never the tenant key
    of HARBORHOOK_API_KEY (creating tenants needs the admin key even with one exported).
    """
    from harborctl.settings import load_settings

    settings = load_settings(api_url=api_url) if api_url else load_settings()
    if admin:
        return client_from_settings(settings, api_key or ensure_admin_key(settings))
    return client_from_settings(settings, api_key)


def _tenant_path(tenant_id: str, *parts: str) -> str:
    return "/".join(["/v1/tenants", _segment("tenant_id", tenant_id), *parts])


def _segment(name: str, value: str) -> str:
    """One URL path segment from an id; an empty id or a dot segment is refused here."""
    value = value.strip()
    if value in ("", ".", ".."):
        raise ValidationError(name, f"{name} must not be empty")
    return quote(value, safe="")


def _without_none(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _reason(exc: httpx.HTTPError) -> str:
    return one_line(str(exc)) or type(exc).__name__


def _status_code_name(status: int) -> str:
    return f"http_{status}"


__all__ = [
    "ApiClient",
    "JsonObject",
    "api_error_from_response",
    "client_from_settings",
    "open_client",
]
