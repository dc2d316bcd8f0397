"""Every HarborHook process stops cleanly on SIGTERM and SIGINT: it exits 0 and its
telemetry is flushed (the ingest used to die of the signal, exit 143, with the spans of its
last second still queued)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.pipeline import ADMIN_KEY, HarborProcess
from tests.support.services import free_port

pytestmark = pytest.mark.slow


def _env(state_dir: Path, **extra: str) -> dict[str, str]:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith("HARBORHOOK_")}
    return {
        **base,
        "HARBORHOOK_STATE_DIR": str(state_dir),
        "HARBORHOOK_ADMIN_KEY": ADMIN_KEY,
        "HARBORHOOK_TRACE_EXPORT_DELAY_MS": "60000",  # nothing is flushed unless on exit
        **extra,
    }


def _spans(state_dir: Path) -> list[dict[str, object]]:
    path = state_dir / "traces" / "spans.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_ingest_flushes_its_spans_and_exits_0(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    process = HarborProcess(
        "ingest",
        [sys.executable, "-m", "harborctl", "run", "ingest"],
        tmp_path / "ingest.log",
        _env(tmp_path / "state", HARBORHOOK_INGEST_PORT=str(port)),
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    process.wait_ready(lambda: httpx.get(f"{url}/readyz").status_code == 200)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    tenant = httpx.post(f"{url}/v1/tenants", json={"name": "t"}, headers=headers).json()
    answer = httpx.post(
        f"{url}/v1/tenants/{tenant['tenant_id']}/events:publish",
        json={"event_type": "a.b", "payload": {}},
        headers={"Authorization": f"Bearer {tenant['api_key']}"},
    )
    assert answer.status_code == 202
    assert process.signal_and_wait(sig, 20) == 0, process.log_tail()
    names = {span["name"] for span in _spans(tmp_path / "state")}
    assert {"PublishEvent", "FanOut"} <= names


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("what", ["worker", "monitor", "receiver"])
def test_the_other_processes_exit_0(tmp_path: Path, what: str, sig: signal.Signals) -> None:
    port = free_port()
    argv = {
        "worker": ["run", "worker", "--metrics-port", str(port)],
        "monitor": ["run", "monitor", "--port", str(port)],
        "receiver": ["run", "receiver", "--port", str(port)],
    }[what]
    process = HarborProcess(
        what,
        [sys.executable, "-m", "harborctl", *argv],
        tmp_path / f"{what}.log",
        _env(tmp_path / "state"),
    )
    process.start()
    health = "/healthz" if what != "monitor" else "/metrics"
    process.wait_ready(lambda: httpx.get(f"http://127.0.0.1:{port}{health}").status_code == 200)
    assert process.signal_and_wait(sig, 40) == 0, process.log_tail()
