"""A running HarborHook pipeline for integration tests: real ingest and worker processes.

Ingest and workers run as ``python -m harborctl run ...`` subprocesses with their own
settings (free ports, own state dir, own NSQ topic), exactly as an operator runs them.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import ManagedProcess, free_port
from tests.support.wait import wait_until

ADMIN_KEY = "test-admin-key"
RECEIVER_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# fast schedules so retries and leases play out in seconds
FAST_SETTINGS = {
    "HARBORHOOK_RETRY_BASE_SECONDS": "0.1",
    "HARBORHOOK_RETRY_FACTOR": "2",
    "HARBORHOOK_DELIVERY_LEASE_SECONDS": "4",  # total_timeout + 2 s, the least allowed
    "HARBORHOOK_TOTAL_TIMEOUT": "2",
    "HARBORHOOK_CONNECT_TIMEOUT": "1",
    "HARBORHOOK_WORKER_POLL_INTERVAL": "0.05",
    "HARBORHOOK_NSQ_LOOKUPD_POLL_INTERVAL": "1",
    "HARBORHOOK_RECONCILE_AFTER_SECONDS": "2",
    "HARBORHOOK_RECONCILE_INTERVAL_SECONDS": "0.5",
    "HARBORHOOK_WORKER_SHUTDOWN_GRACE": "10",
    "HARBORHOOK_BREAKER_FAILURE_THRESHOLD": "50",
    "HARBORHOOK_TRACE_EXPORT_DELAY_MS": "100",  # spans reach the span file quickly
    # the test receivers listen on 127.0.0.1, which the outbound request guard blocks by
    # default; ::1 and the rest of 127/8 stay blocked
    "HARBORHOOK_OUTBOUND_ALLOW_CIDRS": '["127.0.0.1/32"]',
}


class HarborProcess(ManagedProcess):
    """A ManagedProcess with its own environment."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]):
        super().__init__(name, argv, log_path)
        self.env = env

    def _popen_options(self) -> dict[str, Any]:
        options = super()._popen_options()
        options["env"] = self.env
        return options

    def signal_and_wait(self, sig: signal.Signals, timeout: float) -> int:
        """Send ``sig`` and wait for the exit; the exit code (negative: killed by a signal)."""
        assert self._popen is not None, f"{self.name} was not started"
        self._popen.send_signal(sig)
        return self._popen.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye."""
        if self.pid is not None and self.running:
            os.kill(self.pid, signal.SIGKILL)
            wait_until(lambda: not self.running, 10, describe=f"{self.name} to die")


@dataclass
class Pipeline:
    workdir: Path
    database_url: str
    transport: str
    extra_env: dict[str, str] = field(default_factory=dict)
    ingest_port: int = field(default_factory=free_port)
    workers: list[HarborProcess] = field(default_factory=list)
    ingest: HarborProcess | None = None

    @property
    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("HARBORHOOK_")}
        return {
            **base,
            "HARBORHOOK_STATE_DIR": str(self.workdir / "state"),
            "HARBORHOOK_DATABASE_URL": self.database_url,
            "HARBORHOOK_TRANSPORT": self.transport,
            "HARBORHOOK_ADMIN_KEY": ADMIN_KEY,
            "HARBORHOOK_INGEST_PORT": str(self.ingest_port),
            **FAST_SETTINGS,
            **self.extra_env,
        }

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    def start_ingest(self) -> HarborProcess:
        process = HarborProcess(
            "ingest",
            [sys.executable, "-m", "harborctl", "run", "ingest"],
            self.workdir / "ingest.log",
            self.env,
        )
        process.start()
        process.wait_ready(lambda: httpx.get(f"{self.api_url}/readyz").status_code == 200)
        self.ingest = process
        return process

    def start_worker(self, **env: str) -> HarborProcess:
        port = free_port()
        index = len(self.workers)
        process = HarborProcess(
            f"worker{index}",
            [sys.executable, "-m", "harborctl", "run", "worker", "--metrics-port", str(port)],
            self.workdir / f"worker{index}.log",
            {**self.env, **env},
        )
        process.start()
        process.wait_ready(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200)
        process.metrics_url = f"http://127.0.0.1:{port}/metrics"  # type: ignore[attr-defined]
        self.workers.append(process)
        return process

    def stop(self) -> None:
        for process in [*self.workers, *([self.ingest] if self.ingest else [])]:
            process.stop()

    def logs(self) -> str:
        parts = []
        for process in [*([self.ingest] if self.ingest else []), *self.workers]:
            parts.append(f"--- {process.name} ---\n{process.log_tail(40)}")
        return "\n".join(parts)

    # API helpers ---------------------------------------------------------------------

    def client(self, key: str = ADMIN_KEY) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )

    def tenant(self, name: str = "acme") -> Tenant:
        with self.client() as api:
            created = api.post("/v1/tenants", json={"name": name})
            created.raise_for_status()
            body = created.json()
        return Tenant(self, body["tenant_id"], body["api_key"])


@dataclass
class Tenant:
    pipeline: Pipeline
    id: str
    key: str

    def api(self) -> httpx.Client:
        return self.pipeline.client(self.key)

    def endpoint(self, url: str, event_type: str = "order.created", **options: Any) -> str:
        with self.api() as api:
            made = api.post(
                f"/v1/tenants/{self.id}/endpoints",
                json={"url": url, "secret": RECEIVER_SECRET, **options},
            )
            assert made.status_code == 201, made.text
            endpoint_id: str = made.json()["endpoint"]["endpoint_id"]
            sub = api.post(
                f"/v1/tenants/{self.id}/subscriptions",
                json={"endpoint_id": endpoint_id, "event_type": event_type},
            )
            assert sub.status_code == 201, sub.text
        return endpoint_id

    def publish(
        self, payload: Any, event_type: str = "order.created", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"event_type": event_type, "payload": payload}
        if idempotency_key:
            body["idempotency_key"] = idempotency_key
        with self.api() as api:
            answer = api.post(f"/v1/tenants/{self.id}/events:publish", json=body)
        assert answer.status_code == 202, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def deliveries(self, event_id: str) -> list[dict[str, Any]]:
        with self.api() as api:
            answer = api.get(f"/v1/tenants/{self.id}/events/{event_id}/deliveries")
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["deliveries"]
        return found

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        with self.api() as api:
            answer = api.get(f"/v1/tenants/{self.id}/deliveries/{delivery_id}")
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def wait_for_status(
        self, event_id: str, status: str, count: int = 1, timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` of the event's deliveries have ``status``."""
        seen: list[dict[str, Any]] = []

        def reached() -> list[dict[str, Any]] | None:
            nonlocal seen
            seen = self.deliveries(event_id)
            matching = [d for d in seen if d["status"] == status]
            return matching if len(matching) >= count else None

        return wait_until(
            reached,
            timeout,
            interval=0.1,
            describe=lambda: (
                f"{count} deliveries of {event_id} to be {status}; saw "
                f"{[(d['status'], d['attempts'], d['last_error']) for d in seen]}\n"
                f"{self.pipeline.logs()}"
            ),
        )


def unique_topic(prefix: str = "hh") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


def pipeline_env_for_nsq(nsqd_tcp: str, lookupd_http: str) -> dict[str, str]:
    topic = unique_topic("deliveries")
    return {
        "HARBORHOOK_NSQD_TCP_ADDRESSES": f'["{nsqd_tcp}"]',
        "HARBORHOOK_NSQLOOKUPD_HTTP_ADDRESSES": f'["{lookupd_http}"]',
        "HARBORHOOK_DELIVERIES_TOPIC": topic,
        "HARBORHOOK_DLQ_TOPIC": topic.replace("deliveries", "dlq"),
    }


def running(pipeline: Pipeline) -> Iterator[Pipeline]:
    try:
        yield pipeline
    finally:
        pipeline.stop()


def received(receiver: str, path: str) -> list[dict[str, Any]]:
    """What the receiver recorded for ``path``, oldest first."""
    answer = httpx.get(f"{receiver}/_received", params={"path": path})
    records: list[dict[str, Any]] = answer.json()["received"]
    return records
