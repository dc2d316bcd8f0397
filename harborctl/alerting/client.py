"""A small client for Alertmanager's HTTP API (v2 alerts, lifecycle reload, readiness).

httpx errors are translated into ``ServiceError``; "not running" is an answer, not an error,
where callers can carry on without Alertmanager (``reload``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from harborctl.errors import HarborHookError, ServiceError
from harborctl.jsonhttp import JsonHttpClient


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

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """GET /api/v2/alerts (active, silenced, inhibited as Alertmanager reports them)."""
        response = self.send("GET", "/api/v2/alerts", params=filters)
        if response.status_code != 200:
            raise ServiceError(f"Alertmanager at {self.base_url}: HTTP {response.status_code}")
        found: list[dict[str, Any]] = response.json()
        return found
