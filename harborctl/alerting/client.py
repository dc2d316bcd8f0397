"""A small client for Alertmanager's HTTP API: v2 alerts, silences and status, its /metrics,
lifecycle reload and readiness.

The shapes are those of Alertmanager's API v2 OpenAPI (``api/v2/openapi.yaml``, 0.25):
``gettableAlert`` (labels, annotations, receivers, startsAt, status.state/silencedBy/
inhibitedBy), ``gettableSilence`` (id, matchers, startsAt, endsAt, createdBy, comment,
status.state), ``postableSilence``, ``alertmanagerStatus`` (config.original: the YAML it
runs). httpx errors are translated into ``ServiceError``; an answer Alertmanager gives to bad
input (400) is a ``ValidationError``, an unknown silence ``NotFound``; "not running" is an
answer, not an error, where callers can carry on without Alertmanager (``reload``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import yaml

from harborctl.errors import HarborHookError, NotFound, ServiceError, ValidationError
from harborctl.jsonhttp import JsonHttpClient, json_or_none, short_text


@dataclass(frozen=True)
class Alert:
    """One alert as posted to ``/api/v2/alerts``."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str | None = None

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": self.starts_at.isoformat(),
        }
        if self.ends_at is not None:
            body["endsAt"] = self.ends_at.isoformat()
        if self.generator_url:
            body["generatorURL"] = self.generator_url
        return body


class AlertmanagerClient(JsonHttpClient):
    """Alertmanager at ``base_url``; close it (or use ``with``)."""

    service = "Alertmanager"

    def transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> HarborHookError:
        if isinstance(exc, httpx.ConnectError):
            return ServiceError(f"Alertmanager is not running at {self.base_url}")
        return ServiceError(f"Alertmanager at {self.base_url}: {exc}")

    def is_ready(self) -> bool:
        try:
            return self.send("GET", "/-/ready").status_code == 200
        except ServiceError:
            return False

    def reload(self) -> bool:
        """POST /-/reload: True when reloaded, False when nothing listens at the URL."""
        try:
            response = self.send("POST", "/-/reload")
        except ServiceError:
            if self.is_ready():
                raise
            return False
        if response.status_code != 200:
            reason = response.text.strip().splitlines()[0] if response.text.strip() else ""
            raise ServiceError(
                f"Alertmanager at {self.base_url} refused the new config "
                f"(HTTP {response.status_code}{': ' + reason if reason else ''})"
            )
        return True

    def post_alerts(self, alerts: Sequence[Alert]) -> None:
        """POST /api/v2/alerts; ServiceError unless Alertmanager accepted them (200)."""
        response = self.send("POST", "/api/v2/alerts", json=[a.to_api() for a in alerts])
        if response.status_code != 200:
            raise ServiceError(
                f"Alertmanager at {self.base_url} rejected the alert "
                f"(HTTP {response.status_code}): {response.text.strip()[:200]}"
            )

    def _failed(self, response: httpx.Response, what: str) -> ServiceError:
        return ServiceError(
            f"Alertmanager at {self.base_url}: {what} failed (HTTP {response.status_code}): "
            f"{short_text(response.text)}"
        )

    def _json(self, response: httpx.Response, what: str) -> Any:
        if response.status_code != 200:
            raise self._failed(response, what)
        body = json_or_none(response)
        if body is None:
            raise ServiceError(f"Alertmanager at {self.base_url}: {what}: not JSON")
        return body

    def alerts(
        self, filters: Sequence[str] = (), *, silenced: bool = True, inhibited: bool = True
    ) -> list[dict[str, Any]]:
        """GET /api/v2/alerts: ``gettableAlert`` objects matching every matcher of ``filters``
        (``alertname="X"``); firing ones only (Alertmanager lists no resolved alert)."""
        params: dict[str, Any] = {
            "filter": list(filters),
            "silenced": str(silenced).lower(),
            "inhibited": str(inhibited).lower(),
        }
        response = self.send("GET", "/api/v2/alerts", params=params)
        if response.status_code == 400:
            raise ValidationError("filter", f"Alertmanager refused the filter: {response.text}")
        found: list[dict[str, Any]] = self._json(response, "listing alerts")
        return found

    def silences(self) -> list[dict[str, Any]]:
        """GET /api/v2/silences: every ``gettableSilence``, expired ones included."""
        found: list[dict[str, Any]] = self._json(
            self.send("GET", "/api/v2/silences"), "listing silences"
        )
        return found

    def silence(self, silence_id: str) -> dict[str, Any]:
        """GET /api/v2/silence/{id}; NotFound when Alertmanager has no such silence."""
        response = self.send("GET", f"/api/v2/silence/{silence_id}")
        if response.status_code == 404:
            raise NotFound("silence", silence_id)
        found: dict[str, Any] = self._json(response, f"reading silence {silence_id}")
        return found

    def create_silence(self, silence: dict[str, Any]) -> str:
        """POST /api/v2/silences (a ``postableSilence``): the new silence's id."""
        response = self.send("POST", "/api/v2/silences", json=silence)
        if response.status_code == 400:
            reason = short_text(response.text.strip().strip('"'))
            raise ValidationError("silence", f"Alertmanager refused the silence: {reason}")
        body = self._json(response, "creating the silence")
        if not isinstance(body, dict) or not body.get("silenceID"):
            raise ServiceError(f"Alertmanager at {self.base_url} gave no silenceID: {body}")
        return str(body["silenceID"])

    def expire_silence(self, silence_id: str) -> None:
        """DELETE /api/v2/silence/{id}: the silence ends now."""
        response = self.send("DELETE", f"/api/v2/silence/{silence_id}")
        if response.status_code != 200:
            raise self._failed(response, f"expiring silence {silence_id}")

    def status(self) -> dict[str, Any]:
        """GET /api/v2/status (``alertmanagerStatus``)."""
        found: dict[str, Any] = self._json(self.send("GET", "/api/v2/status"), "reading status")
        return found

    def running_config(self) -> dict[str, Any]:
        """The alertmanager.yml Alertmanager runs, as data (``config.original`` of /status)."""
        original = (self.status().get("config") or {}).get("original")
        try:
            config = yaml.safe_load(original) if isinstance(original, str) else None
        except yaml.YAMLError as exc:
            raise ServiceError(f"Alertmanager at {self.base_url}: unreadable config") from exc
        if not isinstance(config, dict):
            raise ServiceError(f"Alertmanager at {self.base_url} reported no config")
        return config

    def metrics_text(self) -> str:
        """GET /metrics: the Prometheus text exposition of Alertmanager's own metrics."""
        response = self.send("GET", "/metrics")
        if response.status_code != 200:
            raise self._failed(response, "reading /metrics")
        return response.text
