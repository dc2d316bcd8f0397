"""The local JSON log files (``<log_dir>/*.jsonl``) as a log source.

Files are append-only: each is read from where the previous fetch stopped, so following
costs only the new lines.
"""

from __future__ import annotations

import json
from pathlib import Path

from harborctl.telemetry.log_query import LogEntry, LogQuery, timestamp_ns


class FileLogSource:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._read: dict[Path, tuple[int, list[LogEntry]]] = {}

    def _entries(self, path: Path) -> list[LogEntry]:
        offset, entries = self._read.get(path, (0, []))
        try:
            size = path.stat().st_size
        except OSError:
            return entries
        if size < offset:  # truncated or replaced: start over
            offset, entries = 0, []
        if size > offset:
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read(size - offset)
            complete = chunk[: chunk.rfind(b"\n") + 1]  # a partly written line waits
            for raw in complete.splitlines():
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    entries.append(LogEntry(timestamp_ns(record), record))
            offset += len(complete)
        self._read[path] = (offset, entries)
        return entries

    def fetch(self, query: LogQuery, *, start_ns: int, end_ns: int, limit: int) -> list[LogEntry]:
        """Matching entries in [start, end] across all files, oldest first (the last
        ``limit`` when there are more)."""
        found = [
            entry
            for path in sorted(self.directory.glob("*.jsonl"))
            for entry in self._entries(path)
            if start_ns <= entry.timestamp_ns <= end_ns and query.matches(entry.record)
        ]
        found.sort(key=lambda e: e.timestamp_ns)
        return found[-limit:] if len(found) > limit else found
