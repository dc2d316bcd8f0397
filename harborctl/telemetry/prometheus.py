"""A small client of Prometheus' HTTP API: instant queries, active alerts, deleting series.

Shapes from https://prometheus.io/docs/prometheus/latest/querying/api/ (2.x):
``/api/v1/query`` answers ``{"status": "success", "data": {"resultType", "result"}}`` or
``{"status": "error", "errorType", "error"}`` (400 for a bad expression); ``/api/v1/alerts``
``{"data": {"alerts": [{"labels", "annotations", "state", "activeAt", "value"}]}}``;
``/api/v1/admin/tsdb/delete_series`` answers 204, or (2.42) HTTP 500 ``errorType
"unavailable"``, ``error "admin APIs disabled"`` when Prometheus runs without
``--web.enable-admin-api``. httpx errors become ``ServiceError``; a
query Prometheus refuses is a ``ValidationError`` naming the expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from harborctl.errors import HarborHookError, ServiceError, ValidationError
from harborctl.jsonhttp import JsonHttpClient, json_or_none, short_text

Sample = dict[str, Any]  # {"metric": {label: value}, "value": [unix seconds, "text"]}


class PrometheusClient(JsonHttpClient):
    """Prometheus at ``base_url``; close it (or use ``with``)."""

    service = "Prometheus"

    def transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> HarborHookError:
        if isinstance(exc, httpx.ConnectError):
            return ServiceError(f"Prometheus is not running at {self.base_url}")
        return ServiceError(f"Prometheus at {self.base_url}: {exc}")

    def _data(self, response: httpx.Response, what: str) -> Any:
        body = json_or_none(response)
        if isinstance(body, dict) and body.get("status") == "success":
            return body.get("data")
        reason = body.get("error") if isinstance(body, dict) else short_text(response.text)
        if response.status_code in (400, 422):
            raise ValidationError("query", f"Prometheus refused {what}: {reason}")
        raise ServiceError(
            f"Prometheus at {self.base_url}: {what} failed (HTTP {response.status_code}): {reason}"
        )

    def query(self, promql: str) -> list[Sample]:
        """The instant vector ``promql`` evaluates to now ([] when it has no data)."""
        data = self._data(
            self.send("GET", "/api/v1/query", params={"query": promql}), f"the query {promql!r}"
        )
        if not isinstance(data, dict):
            return []
        result = data.get("result")
        if data.get("resultType") == "scalar" and isinstance(result, list):
            return [{"metric": {}, "value": result}]
        return [item for item in result or [] if isinstance(item, dict)]

    def alerts(self) -> list[dict[str, Any]]:
        """Alerts Prometheus holds now (pending and firing)."""
        data = self._data(self.send("GET", "/api/v1/alerts"), "listing alerts")
        found = data.get("alerts") if isinstance(data, dict) else None
        return [a for a in found or [] if isinstance(a, dict)]

    def delete_series(self, selectors: Sequence[str]) -> bool:
        """Delete every sample of the series ``selectors`` match (the admin API); False when
        Prometheus runs without ``--web.enable-admin-api``."""
        response = self.send(
            "POST", "/api/v1/admin/tsdb/delete_series", params={"match[]": list(selectors)}
        )
        if response.status_code == 204:
            return True
        if "admin apis disabled" in response.text.lower():  # 2.x: HTTP 500, "unavailable"
            return False
        raise ServiceError(
            f"Prometheus at {self.base_url} did not delete series (HTTP "
            f"{response.status_code}): {short_text(response.text)}"
        )
