"""Health of one stack component: its supervisord state, then ``GET health_url`` (or, for
a ``postgresql://`` URL, a connection answering ``select 1``)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from harborctl.stack.model import Component


@dataclass(frozen=True)
class Health:
    ok: bool
    detail: str


def probe(component: Component, state: str, client: httpx.Client) -> Health:
    """Live health of one component in supervisord state ``state``."""
    if state != "RUNNING":
        return Health(False, state.lower())
    if component.health_url is None:
        return Health(True, "running")
    if component.health_url.startswith("postgresql://"):
        return _probe_postgres(component.health_url)
    try:
        response = client.get(component.health_url)
    except httpx.HTTPError as exc:
        return Health(False, f"{component.health_url}: {type(exc).__name__}")
    if response.status_code != 200:
        return Health(False, f"{component.health_url}: HTTP {response.status_code}")
    if component.health_body is not None and response.text.strip() != component.health_body:
        return Health(False, f"{component.health_url}: unexpected body {response.text[:40]!r}")
    return Health(True, "ok")


def health_client() -> httpx.Client:
    # trust_env=False: never send loopback health checks through an HTTP(S)_PROXY
    return httpx.Client(timeout=httpx.Timeout(2.0), trust_env=False)


def _probe_postgres(url: str) -> Health:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return Health(False, f"{url}: {reason[:80]}")
    return Health(True, "ok")
