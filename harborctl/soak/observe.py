"""What the soak reads from the running stack: the database's deliveries of its tenant,
nsqd's queue depths (in memory and on disk) and a process's resident memory.

The database is read with psycopg directly (a few aggregate queries, no ORM): the soak
judges the pipeline from outside, as an operator with ``psql`` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harborctl.errors import HarborHookError

TERMINAL = ("delivered", "dead")


@dataclass(frozen=True)
class DeliveryRow:
    """One delivery row: ``endpoint_id`` as the API named it."""

    event_id: str
    endpoint_id: str
    status: str
    dead_reason: str | None
    attempts: int


def _conninfo(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def pending_deliveries(database_url: str, tenant_id: str) -> tuple[int, int] | None:
    """(deliveries of the tenant, those not yet delivered or dead); None when the database
    does not answer."""
    import psycopg

    try:
        with psycopg.connect(_conninfo(database_url), connect_timeout=3) as conn:
            row = conn.execute(
                "select count(*), count(*) filter (where status not in ('delivered', 'dead')) "
                "from deliveries where tenant_id = %s",
                (tenant_id,),
            ).fetchone()
    except psycopg.Error:
        return None
    return (int(row[0]), int(row[1])) if row else (0, 0)


def delivery_rows(database_url: str, tenant_id: str) -> list[DeliveryRow]:
    """Every delivery row of the tenant; HarborHookError when the database does not answer."""
    import psycopg

    try:
        with psycopg.connect(_conninfo(database_url), connect_timeout=5) as conn:
            rows = conn.execute(
                "select event_id, endpoint_id, status, dead_reason, attempts "
                "from deliveries where tenant_id = %s",
                (tenant_id,),
            ).fetchall()
    except psycopg.Error as exc:
        raise HarborHookError(f"reading the soak's deliveries failed: {exc}") from exc
    return [DeliveryRow(str(e), str(p), str(s), r, int(a or 0)) for e, p, s, r, a in rows]


def postgres_answers(database_url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(_conninfo(database_url), connect_timeout=2) as conn:
            conn.execute("select 1")
    except psycopg.Error:
        return False
    return True


def nsqd_backend_depth(http_url: str, client: httpx.Client) -> int | None:
    """Messages nsqd holds on disk, over every topic and channel (``backend_depth`` of
    ``GET /stats?format=json``); None when it does not answer."""
    try:
        answer = client.get(f"{http_url}/stats", params={"format": "json"})
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
    except (httpx.HTTPError, ValueError):
        return None
    data = data.get("data", data)  # nsqd before 1.0 wrapped it
    total = 0
    for topic in data.get("topics") or ():
        total += int(topic.get("backend_depth") or 0)
        for channel in topic.get("channels") or ():
            total += int(channel.get("backend_depth") or 0)
    return total


def rss_bytes(pid: int, proc: Path = Path("/proc")) -> int | None:
    """Resident memory of one process (``VmRSS`` of ``/proc/<pid>/status``); None when gone."""
    try:
        text = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None
