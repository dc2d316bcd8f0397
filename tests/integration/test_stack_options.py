"""`harborctl up --database postgres --nsqd-nodes 2 --workers 2` for real.

PostgreSQL of the stack's own (as the postgres OS user under root), two nsqd nodes behind one
nsqlookupd, two workers: every one healthy, events published through both nsqd nodes are
delivered, `status` lists them all, and `down` leaves nothing running (PostgreSQL's backends
included).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harborctl.client import ApiClient
from harborctl.layout import StateLayout
from harborctl.receiver.server import running_receiver
from tests.support.native_stack import (
    OBSERVABILITY,
    Stack,
    alive,
    native_stack,
    pids_using,
    poll,
    port_free,
)
from tests.support.services import NSQ_INSTALL_HINT, postgres_bin_dir, require_binary
from tests.support.wait import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.nsq]

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EVENTS = 20
EXTRA_PORTS = ("nsqd2_tcp", "nsqd2_http", "worker2_metrics", "postgres")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    require_binary("nsqd", NSQ_INSTALL_HINT)
    require_binary("nsqlookupd", NSQ_INSTALL_HINT)
    postgres_bin_dir()  # skips (fails under CI) when PostgreSQL is not installed
    with native_stack(tmp_path, EXTRA_PORTS) as created:
        yield created


def _up_args(stack: Stack) -> list[str]:
    ports = stack.ports
    return stack.up_args(
        "--database", "postgres",
        "--postgres-port", str(ports["postgres"]),
        "--nsqd-nodes", "2",
        "--nsqd-tcp-port", str(ports["nsqd2_tcp"]),
        "--nsqd-http-port", str(ports["nsqd2_http"]),
        "--workers", "2",
        "--worker-metrics-port", str(ports["worker_metrics"]),
        "--worker-metrics-port", str(ports["worker2_metrics"]),
    )  # fmt: skip


def _topic_messages(nsqd_http_url: str, topic: str) -> int:
    stats = httpx.get(f"{nsqd_http_url}/stats", params={"format": "json"}, timeout=5).json()
    return sum(
        int(t["message_count"]) for t in stats.get("topics") or [] if t["topic_name"] == topic
    )


def test_postgres_two_nsqd_nodes_two_workers_deliver_and_go_away(stack: Stack) -> None:
    expected = ["postgres", "nsqlookupd", "nsqd-1", "nsqd-2", "ingest", "worker-1", "worker-2"]
    expected += ["monitor", *OBSERVABILITY]

    started = stack.run_json(*_up_args(stack))
    stack.remember(started)
    assert started["result"] == "started"
    assert (started["database"], started["transport"]) == ("postgres", "nsq")
    assert [c["name"] for c in started["components"]] == expected
    assert all(c["healthy"] for c in started["components"]), started["components"]
    kinds = {c["name"]: c["kind"] for c in started["components"]}
    assert kinds["worker-2"] == "worker" and kinds["nsqd-2"] == "nsqd"

    status = stack.run_json("status")
    stack.remember(status)
    assert status["healthy"] and status["database"] == "postgres"
    assert [c["name"] for c in status["components"]] == expected
    urls = {c["name"]: c["url"] for c in status["components"]}
    assert urls["postgres"] == f"postgresql://127.0.0.1:{stack.ports['postgres']}/harborhook"
    assert urls["worker-2"] == f"http://127.0.0.1:{stack.ports['worker2_metrics']}/metrics"
    human = stack.run("status")
    assert human.returncode == 0 and "database postgres" in human.stdout

    admin_key = (stack.state_dir / "admin.key").read_text().strip()
    api_url = f"http://127.0.0.1:{stack.ports['ingest']}"
    with running_receiver(secret=SECRET) as receiver, ApiClient(api_url, admin_key) as admin:
        tenant = admin.create_tenant("options")
        made = admin.create_endpoint(
            str(tenant["tenant_id"]), f"{receiver}/opts/ok", secret=SECRET, rate_limit_rps=1000
        )
        endpoint_id = str(made["endpoint"]["endpoint_id"])
        admin.create_subscription(str(tenant["tenant_id"]), endpoint_id, "order.created")
        with ApiClient(api_url, str(tenant["api_key"])) as client:
            for n in range(EVENTS):
                client.publish_event(str(tenant["tenant_id"]), "order.created", {"n": n})

        def delivered() -> int:
            got = httpx.get(f"{receiver}/_received", params={"label": "opts"}).json()
            return len({r["webhook_id"] for r in got["received"] if r["signature_valid"]})

        wait_until(lambda: delivered() == EVENTS, 60, describe="every event delivered")

    # the ingest published through both nsqd nodes
    for node in ("nsqd-1", "nsqd-2"):
        assert _topic_messages(urls[node], "harborhook.deliveries") > 0, node
    # the data of the stack's cluster, wherever the postgres OS user can reach it
    cluster = StateLayout.at(stack.state_dir).postgres_dir.resolve()
    assert (cluster / "data" / "PG_VERSION").exists()
    assert pids_using(cluster), "PostgreSQL runs from the stack's cluster"

    pids = {c["pid"] for c in status["components"]}
    stopped = stack.run_json("down")
    assert stopped["was_running"] is True
    assert set(stopped["stopped_pids"]) == pids
    assert not [pid for pid in pids | {status["supervisord_pid"]} if alive(pid)]
    assert pids_using(cluster) == [], "a PostgreSQL process (a backend?) outlived `down`"
    assert poll(lambda: all(port_free(port) for port in stack.ports.values()), 10)
    assert stack.run("status").returncode == 3
