"""A fake Loki answering ``GET /loki/api/v1/query_range`` as Loki's HTTP API documents:

``{"status": "success", "data": {"resultType": "streams", "result": [{"stream": {labels},
"values": [["<unix ns as string>", "<log line>"], ...]}], "stats": {...}}}``

It understands the LogQL subset harborctl sends: a stream selector of ``=``/``=~``
matchers on labels, then ``| json`` and ``| field="value"`` filters; ``start``/``end`` in
nanoseconds, ``limit`` and ``direction``. A query outside that subset answers 400 as Loki
does for a parse error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.aio_server import serving

_MATCHER = re.compile(r'\s*([a-zA-Z_]\w*)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_FILTER = re.compile(r'^([a-zA-Z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"$')


@dataclass
class FakeLoki:
    # (unix ns, labels, line)
    entries: list[tuple[int, dict[str, str], str]] = field(default_factory=list)
    queries: list[dict[str, str]] = field(default_factory=list)

    def push(self, record: dict[str, Any], ts_ns: int) -> None:
        """Store a JSON log line as Promtail would: labels service and level only."""
        labels = {"service": str(record["service"]), "level": str(record["level"])}
        self.entries.append((ts_ns, labels, json.dumps(record)))

    async def query_range(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        self.queries.append(params)
        try:
            selector, filters = _parse(params["query"])
        except (KeyError, ValueError) as exc:
            return web.Response(status=400, text=f"parse error : {exc}")
        start = int(params.get("start", 0))
        end = int(params.get("end", 2**63 - 1))
        limit = int(params.get("limit", 100))
        forward = params.get("direction", "backward") == "forward"
        picked = []
        for ts, labels, line in self.entries:
            if not start <= ts <= end or not _selected(selector, labels):
                continue
            if filters:
                try:
                    fields = json.loads(line)
                except ValueError:
                    continue
                if any(str(fields.get(k)) != v for k, v in filters):
                    continue
            picked.append((ts, labels, line))
        picked.sort(key=lambda e: e[0], reverse=not forward)
        picked = picked[:limit]
        streams: dict[str, dict[str, Any]] = {}
        for ts, labels, line in picked:
            key = json.dumps(labels, sort_keys=True)
            streams.setdefault(key, {"stream": labels, "values": []})["values"].append(
                [str(ts), line]
            )
        body = {
            "status": "success",
            "data": {
                "resultType": "streams",
                "result": list(streams.values()),
                "stats": {"summary": {"totalEntriesReturned": len(picked)}},
            },
        }
        return web.json_response(body)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/loki/api/v1/query_range", self.query_range)
        return app


def _parse(query: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    head, sep, rest = query.partition("}")
    if not head.startswith("{") or not sep:
        raise ValueError("expected a stream selector")
    selector = []
    for part in head[1:].split(","):
        found = _MATCHER.fullmatch(part)
        if not found:
            raise ValueError(f"bad matcher {part!r}")
        selector.append((found[1], found[2], found[3].replace('\\"', '"')))
    stages = [s.strip() for s in rest.split("|") if s.strip()]
    if stages and stages[0] == "json":
        stages = stages[1:]
    filters = []
    for stage in stages:
        found = _FILTER.fullmatch(stage)
        if not found:
            raise ValueError(f"unsupported stage {stage!r}")
        filters.append((found[1], found[2].replace('\\"', '"')))
    return selector, filters


def _selected(selector: list[tuple[str, str, str]], labels: dict[str, str]) -> bool:
    for name, op, value in selector:
        have = labels.get(name, "")
        if op == "=" and have != value:
            return False
        if op == "=~" and not re.fullmatch(value, have):
            return False
    return True


@contextmanager
def running_fake_loki(fake: FakeLoki) -> Iterator[str]:
    with serving(fake.app()) as url:
        yield url
