"""Prometheus' HTTP API (``/api/v1``) for the panels' PromQL.

- ``GET /api/v1/query?query=&time=`` and ``/api/v1/query_range?query=&start=&end=&step=``
  answer ``{"status": "success", "data": {"resultType": "vector"|"matrix"|"scalar",
  "result": [...]}}``; a query Prometheus refuses answers 400/422 with ``{"status": "error",
  "errorType", "error"}``.
- ``GET /api/v1/label/<name>/values?match[]=&start=&end=`` answers ``{"data": [values]}``:
  what Grafana's ``label_values(metric{...}, label)`` variable query asks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harborctl.errors import ServiceError
from harborctl.jsonhttp import JsonHttpClient, json_or_none, short_text

# Grafana's label_values(metric{selector}, label) / label_values(label)
_LABEL_VALUES = re.compile(
    r"^\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$"
)


@dataclass(frozen=True)
class QueryResult:
    """What Prometheus answered: ``result_type`` and ``result`` exactly as in its JSON."""

    result_type: str
    result: Any


class PrometheusClient(JsonHttpClient):
    service = "Prometheus"

    def _data(self, path: str, params: dict[str, Any]) -> Any:
        answer = self.send("GET", f"/api/v1/{path}", params=params)
        body = json_or_none(answer)
        if answer.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else short_text(answer.text)
            raise ServiceError(
                f"Prometheus at {self.base_url} refused {params.get('query', path)!r} "
                f"(HTTP {answer.status_code}): {error}"
            )
        if body.get("status") != "success":
            raise ServiceError(f"Prometheus answered {path} with an error: {body.get('error')}")
        return body.get("data")

    def _result(self, data: Any, query: str) -> QueryResult:
        if not isinstance(data, dict) or "resultType" not in data:
            raise ServiceError(f"Prometheus answered {query!r} with an unexpected shape")
        return QueryResult(str(data["resultType"]), data.get("result"))

    def instant(self, query: str, at: float) -> QueryResult:
        """``query`` evaluated at unix time ``at``."""
        return self._result(self._data("query", {"query": query, "time": at}), query)

    def range(self, query: str, start: float, end: float, step: float) -> QueryResult:
        """``query`` evaluated every ``step`` seconds from ``start`` to ``end``."""
        params = {"query": query, "start": start, "end": end, "step": step}
        return self._result(self._data("query_range", params), query)

    def label_values(self, label: str, match: str | None, start: float, end: float) -> list[str]:
        """Values of ``label`` on the series ``match`` selects (all series when None)."""
        params: dict[str, Any] = {"start": start, "end": end}
        if match:
            params["match[]"] = match
        data = self._data(f"label/{label}/values", params)
        if not isinstance(data, list):
            raise ServiceError(f"Prometheus answered label values of {label} oddly: {data!r}")
        return sorted(str(value) for value in data)

    def variable_values(self, query: str, start: float, end: float) -> list[str]:
        """The answer to a Grafana ``label_values(...)`` variable query (already substituted)."""
        parsed = _LABEL_VALUES.match(query)
        if parsed is None:
            raise ServiceError(f"not a label_values(...) variable query: {query!r}")
        return self.label_values(parsed.group("label"), parsed.group("match"), start, end)
