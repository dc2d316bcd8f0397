"""Prometheus' admin HTTP API: deleting series (queries: ``harborctl.dashboards.prometheus``).

``POST /api/v1/admin/tsdb/delete_series?match[]=&start=&end=``
(https://prometheus.io/docs/prometheus/latest/querying/api/#delete-series) answers 204, or
(2.42) HTTP 500 ``{"errorType": "unavailable", "error": "admin APIs disabled"}`` when
Prometheus runs without ``--web.enable-admin-api``. httpx errors become ``ServiceError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from harborctl.errors import HarborHookError, ServiceError
from harborctl.jsonhttp import JsonHttpClient, short_text


class PrometheusAdminClient(JsonHttpClient):
    """Prometheus' admin API at ``base_url``; close it (or use ``with``)."""

    service = "Prometheus"

    def transport_error(self, exc: httpx.HTTPError, method: str, path: str) -> HarborHookError:
        if isinstance(exc, httpx.ConnectError):
            return ServiceError(f"Prometheus is not running at {self.base_url}")
        return ServiceError(f"Prometheus at {self.base_url}: {exc}")

    def delete_series(
        self, selectors: Sequence[str], start: float | None = None, end: float | None = None
    ) -> bool:
        """Delete the samples of the series ``selectors`` match (the admin API), between unix
        times ``start`` and ``end`` (default: all of them); False when Prometheus runs without
        ``--web.enable-admin-api``."""
        params: dict[str, Any] = {"match[]": list(selectors)}
        if start is not None:
            params["start"] = f"{start:.3f}"
        if end is not None:
            params["end"] = f"{end:.3f}"
        response = self.send("POST", "/api/v1/admin/tsdb/delete_series", params=params)
        if response.status_code == 204:
            return True
        if "admin apis disabled" in response.text.lower():  # 2.x: HTTP 500, "unavailable"
            return False
        raise ServiceError(
            f"Prometheus at {self.base_url} did not delete series (HTTP "
            f"{response.status_code}): {short_text(response.text)}"
        )
