"""Tempo's HTTP API (search and trace by id) as a trace source for ``harborctl traces``.

- ``GET /api/search?tags=<logfmt>&start=<unix s>&end=<unix s>&limit=<n>`` answers
  ``{"traces": [{"traceID", "rootServiceName", "rootTraceName", "startTimeUnixNano",
  "durationMs", ...}], "metrics": {...}}``.
- ``GET /api/traces/<traceID>`` answers OTLP JSON ``{"batches": [...]}``; 404 when unknown.
"""

from __future__ import annotations

from typing import Any

from harborctl.errors import NotFound, ServiceError
from harborctl.jsonhttp import JsonHttpClient
from harborctl.telemetry.trace_model import SpanView, TraceSummary, spans_from_otlp, summarize


class TempoClient(JsonHttpClient):
    service = "Tempo"

    def search(
        self, *, tags: dict[str, str], start_s: int, end_s: int, limit: int
    ) -> list[dict[str, Any]]:
        params: dict[str, str | int] = {"start": start_s, "end": end_s, "limit": limit}
        if tags:
            params["tags"] = " ".join(f'{k}="{v}"' for k, v in tags.items())
        body = self._get("/api/search", params)
        traces = body.get("traces") or []
        return [t for t in traces if isinstance(t, dict)]

    def trace(self, trace_id: str) -> list[SpanView]:
        return spans_from_otlp(self._get(f"/api/traces/{trace_id}", {}, what=trace_id))

    def _get(
        self, path: str, params: dict[str, str | int], what: str | None = None
    ) -> dict[str, Any]:
        answer = self.send("GET", path, params=params, headers={"Accept": "application/json"})
        if answer.status_code == 404 and what is not None:
            raise NotFound("trace", what)
        if answer.status_code != 200:
            raise ServiceError(
                f"Tempo answered HTTP {answer.status_code} for {path}: {answer.text[:200]}"
            )
        return self.json_object(answer, path)


class TempoTraceSource:
    """Recent traces: a search for ids, then each trace by id for its spans."""

    def __init__(self, client: TempoClient, *, search_limit: int = 50) -> None:
        self.client = client
        self.search_limit = search_limit

    def recent(self, *, since_ns: int, until_ns: int, service: str | None) -> list[TraceSummary]:
        hits = self.client.search(
            tags={"service.name": service} if service else {},
            start_s=since_ns // 1_000_000_000,
            end_s=until_ns // 1_000_000_000 + 1,
            limit=self.search_limit,
        )
        found = []
        for hit in hits:
            trace_id = str(hit.get("traceID", ""))
            if not trace_id:
                continue
            try:
                spans = self.client.trace(trace_id)
            except NotFound:  # searchable before it is queryable: next round
                continue
            if spans:
                found.append(summarize(spans))
        return sorted(found, key=lambda t: t.start_ns)

    def get(self, trace_id: str) -> list[SpanView]:
        spans = self.client.trace(trace_id)
        if not spans:
            raise NotFound("trace", trace_id)
        return spans
