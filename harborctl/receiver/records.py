"""What the receiver got: a bounded in-memory log, per-path counters, optional JSON lines file."""

from __future__ import annotations

import json
from collections import Counter, deque
from pathlib import Path
from typing import IO, TypedDict

DEFAULT_MAX_RECORDS = 10_000


class Record(TypedDict):
    """One received request, as served by ``GET /_received`` and written to the record file."""

    received_at: str  # ISO 8601, UTC
    method: str
    path: str
    query: str
    attempt: int  # 1-based number of this request among those to the same path
    behaviour: str | None  # ok, fail, status, slow, hang; None for an unknown/invalid path
    label: str | None
    headers: dict[str, str]  # every header, lower-cased names
    body: str
    webhook_id: str | None
    webhook_timestamp: str | None
    x_trace_id: str | None
    signature_valid: bool | None  # None when the receiver has no secret
    signature_error: str | None
    status: int | None  # the answer planned on arrival; None for hang


class RecordStore:
    """Records (the newest ``max_records``), per-path counters, and the optional file.

    Lives in one event loop; not thread-safe. The file is append-only: ``reset`` clears
    memory and counters but keeps what was written.
    """

    def __init__(
        self, record_file: Path | None = None, max_records: int = DEFAULT_MAX_RECORDS
    ) -> None:
        self._records: deque[Record] = deque(maxlen=max_records)
        self._counts: Counter[str] = Counter()
        self._delivery_counts: Counter[tuple[str, str | None]] = Counter()
        self._file: IO[str] | None = None
        if record_file is not None:
            record_file.parent.mkdir(parents=True, exist_ok=True)
            self._file = record_file.open("a", encoding="utf-8")

    def next_attempt(self, path: str) -> int:
        """Count one more request to ``path`` and return its 1-based number."""
        self._counts[path] += 1
        return self._counts[path]

    def next_delivery_attempt(self, path: str, webhook_id: str | None) -> int:
        """Count one more request of one delivery (``webhook-id``) to ``path``; its 1-based
        number (requests without the header count as one delivery)."""
        self._delivery_counts[path, webhook_id] += 1
        return self._delivery_counts[path, webhook_id]

    def add(self, record: Record) -> None:
        self._records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._file.flush()

    def count(self, path: str | None = None) -> int:
        """Requests counted since the last reset, to ``path`` or in total (not bounded)."""
        return self._counts[path] if path is not None else sum(self._counts.values())

    def select(
        self,
        path: str | None = None,
        webhook_id: str | None = None,
        label: str | None = None,
    ) -> list[Record]:
        """Records, oldest first, matching every filter given."""
        return [
            r
            for r in self._records
            if (path is None or r["path"] == path)
            and (webhook_id is None or r["webhook_id"] == webhook_id)
            and (label is None or r["label"] == label)
        ]

    def reset(self) -> None:
        self._records.clear()
        self._counts.clear()
        self._delivery_counts.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
