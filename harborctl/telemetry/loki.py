"""Loki's HTTP API as a log source for ``harborctl logs tail``.

``GET /loki/api/v1/query_range?query=<LogQL>&start=<ns>&end=<ns>&limit=<n>&direction=forward``
answers ``{"status": "success", "data": {"resultType": "streams", "result": [{"stream":
{labels}, "values": [["<unix ns>", "<log line>"], ...]}], "stats": {...}}}``.
"""

from __future__ import annotations

import json
from typing import Any

from harborctl.errors import ServiceError
from harborctl.jsonhttp import JsonHttpClient
from harborctl.telemetry.log_query import LogEntry, LogQuery


class LokiClient(JsonHttpClient):
    service = "Loki"

    def query_range(
        self, query: str, *, start_ns: int, end_ns: int, limit: int, direction: str = "forward"
    ) -> list[dict[str, Any]]:
        """The ``result`` streams of a log query."""
        params: dict[str, str | int] = {
            "query": query,
            "start": start_ns,
            "end": end_ns,
            "limit": limit,
            "direction": direction,
        }
        path = "/loki/api/v1/query_range"
        answer = self.send("GET", path, params=params)
        if answer.status_code != 200:
            raise ServiceError(f"Loki answered HTTP {answer.status_code}: {answer.text[:200]}")
        body = self.json_object(answer, path)
        data = body.get("data")
        if not isinstance(data, dict) or body.get("status") != "success":
            raise ServiceError(f"Loki answered an unexpected shape: {str(body)[:200]}")
        if data.get("resultType") != "streams":
            raise ServiceError(f"expected a log query, Loki answered {data.get('resultType')}")
        return [s for s in data.get("result") or [] if isinstance(s, dict)]


class LokiLogSource:
    def __init__(self, client: LokiClient) -> None:
        self.client = client

    def fetch(self, query: LogQuery, *, start_ns: int, end_ns: int, limit: int) -> list[LogEntry]:
        """Entries in [start, end], oldest first."""
        entries = []
        streams = self.client.query_range(
            query.logql(), start_ns=start_ns, end_ns=end_ns, limit=limit
        )
        for stream in streams:
            labels = stream.get("stream") or {}
            for ts, line in stream.get("values") or []:
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if not isinstance(record, dict):
                    record = {"message": line}
                entries.append(LogEntry(int(ts), {**labels, **record}))
        entries.sort(key=lambda e: e.timestamp_ns)
        return entries[-limit:] if len(entries) > limit else entries
