"""The local span file (``<state_dir>/traces/spans.jsonl``) as a trace source."""

from __future__ import annotations

import json
from pathlib import Path

from harborctl.errors import NotFound
from harborctl.telemetry.trace_model import SpanView, TraceSummary, span_from_record, summarize


class FileTraceSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def spans(self) -> list[SpanView]:
        """Every complete line; a line still being written (no newline yet) is skipped."""
        if not self.path.exists():
            return []
        found = []
        with self.path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break
                try:
                    found.append(span_from_record(json.loads(raw)))
                except (ValueError, KeyError, TypeError):
                    continue
        return found

    def traces(self) -> dict[str, list[SpanView]]:
        grouped: dict[str, list[SpanView]] = {}
        for span in self.spans():
            grouped.setdefault(span.trace_id, []).append(span)
        return grouped

    def recent(self, *, since_ns: int, until_ns: int, service: str | None) -> list[TraceSummary]:
        found = []
        for spans in self.traces().values():
            if service and not any(s.service == service for s in spans):
                continue
            summary = summarize(spans)
            if since_ns <= summary.start_ns <= until_ns:
                found.append(summary)
        return sorted(found, key=lambda t: t.start_ns)

    def get(self, trace_id: str) -> list[SpanView]:
        spans = self.traces().get(trace_id.lower())
        if not spans:
            raise NotFound("trace", f"{trace_id} (in {self.path})")
        return spans
