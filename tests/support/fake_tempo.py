"""A fake Tempo answering as Tempo's HTTP API documentation shows.

- ``GET /api/search?tags=&start=&end=&limit=`` → ``{"traces": [{"traceID",
  "rootServiceName", "rootTraceName", "startTimeUnixNano", "durationMs", "spanSet":
  {"spans": [...], "matched"}}], "metrics": {...}}``; ``tags`` is logfmt
  (``service.name="x"``), start/end unix seconds.
- ``GET /api/traces/<id>`` → OTLP JSON ``{"batches": [{"resource", "scopeSpans": [{"scope",
  "spans": [...]}]}]}`` with ids in base64 (protobuf JSON), kinds ``SPAN_KIND_*`` and status
  codes ``STATUS_CODE_*``; 404 ``trace not found`` when unknown.

Spans are added as the span file's records (:func:`add_records`).
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.aio_server import serving


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 as a JSON string, as protobuf JSON does
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": str(value)}


def _attrs(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": _value(v)} for k, v in values.items()]


def otlp_span(record: Mapping[str, Any]) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": _b64(record["trace_id"]),
        "spanId": _b64(record["span_id"]),
        "name": record["name"],
        "kind": f"SPAN_KIND_{record['kind']}",
        "startTimeUnixNano": str(record["start_unix_nano"]),
        "endTimeUnixNano": str(record["end_unix_nano"]),
        "attributes": _attrs(record.get("attributes") or {}),
        "status": {},
    }
    if record.get("parent_span_id"):
        span["parentSpanId"] = _b64(record["parent_span_id"])
    if record.get("status") == "ERROR":
        span["status"] = {"code": "STATUS_CODE_ERROR", "message": record.get("status_message")}
    return span


@dataclass
class FakeTempo:
    records: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def add_records(self, records: list[dict[str, Any]]) -> None:
        self.records.extend(records)

    def _trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["trace_id"] == trace_id]

    async def search(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append((request.path, query))
        tags = dict(part.split("=", 1) for part in shlex.split(query.get("tags", "")))
        start = int(query.get("start", 0)) * 1_000_000_000
        end = int(query.get("end", 2**40)) * 1_000_000_000
        limit = int(query.get("limit", 20))
        found = []
        for trace_id in dict.fromkeys(r["trace_id"] for r in self.records):
            spans = self._trace(trace_id)
            if "service.name" in tags and not any(
                s["service"] == tags["service.name"] for s in spans
            ):
                continue
            root = min(spans, key=lambda s: s["start_unix_nano"])
            if not start <= root["start_unix_nano"] <= end:
                continue
            last = max(s["end_unix_nano"] for s in spans)
            found.append(
                {
                    "traceID": trace_id,
                    "rootServiceName": root["service"],
                    "rootTraceName": root["name"],
                    "startTimeUnixNano": str(root["start_unix_nano"]),
                    "durationMs": (last - root["start_unix_nano"]) // 1_000_000,
                    "spanSet": {
                        "spans": [
                            {
                                "spanID": s["span_id"],
                                "startTimeUnixNano": str(s["start_unix_nano"]),
                                "durationNanos": str(s["end_unix_nano"] - s["start_unix_nano"]),
                                "attributes": _attrs({"service.name": s["service"]}),
                            }
                            for s in spans[:3]
                        ],
                        "matched": len(spans),
                    },
                }
            )
        body = {
            "traces": found[:limit],
            "metrics": {"inspectedBytes": "1024", "completedJobs": 1, "totalJobs": 1},
        }
        return web.json_response(body)

    async def trace(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query)))
        spans = self._trace(request.match_info["trace_id"].lower())
        if not spans:
            return web.Response(status=404, text="trace not found")
        batches = []
        for service in dict.fromkeys(s["service"] for s in spans):
            mine = [s for s in spans if s["service"] == service]
            batches.append(
                {
                    "resource": {"attributes": _attrs({"service.name": service})},
                    "scopeSpans": [
                        {
                            "scope": {"name": "harborctl"},
                            "spans": [otlp_span(s) for s in mine],
                        }
                    ],
                }
            )
        return web.json_response({"batches": batches})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/search", self.search)
        app.router.add_get("/api/traces/{trace_id}", self.trace)
        app.router.add_get("/ready", _ready)
        return app


async def _ready(_: web.Request) -> web.Response:
    return web.Response(text="ready")


@contextmanager
def running_fake_tempo(fake: FakeTempo) -> Iterator[str]:
    with serving(fake.app()) as url:
        yield url
