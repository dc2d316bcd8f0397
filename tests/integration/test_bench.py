"""`harborctl bench --start` for real, small counts: the report's shape, every delivery
counted, and the throwaway stack gone afterwards. Figures are printed, never judged here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from harborctl.receiver.server import running_receiver
from tests.support.native_stack import native_stack, pids_of_state_dir
from tests.support.services import NSQ_INSTALL_HINT, postgres_bin_dir, require_binary

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 900.0
SECTIONS = {"run", "publish", "deliveries", "processes", "cpu", "nsq_to_http", "notes"}
LATENCY = {"count", "p50", "p95", "p99", "max"}


def _bench(*args: str) -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HARBORHOOK_")}
    result = subprocess.run(
        [sys.executable, "-m", "harborctl", "bench", "--start", "--no-observability", "--json",
         *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def _check(report: dict[str, Any], *, events: int, fanout: int, kinds: dict[str, int]) -> None:
    assert set(report) == SECTIONS
    publish, deliveries, cpu = report["publish"], report["deliveries"], report["cpu"]
    assert (publish["sent"], publish["accepted"], publish["refused"], publish["errors"]) == (
        events,
        events,
        0,
        0,
    )
    assert set(publish["latency_ms"]) == LATENCY and publish["latency_ms"]["count"] == events
    assert publish["accepted_per_second"] > 0

    assert deliveries["expected"] == events * fanout
    assert deliveries["received"] == events * fanout
    assert deliveries["complete"] is True and deliveries["unmatched"] == 0
    for figure in ("first_attempt_ms", "end_to_end_ms"):
        assert set(deliveries[figure]) == LATENCY
        assert deliveries[figure]["count"] == events * fanout
    assert deliveries["end_to_end_ms"]["p50"] >= deliveries["first_attempt_ms"]["p50"]

    rows = report["processes"]
    seen: dict[str, int] = {}
    for row in rows:
        seen[row["kind"]] = seen.get(row["kind"], 0) + 1
        assert row["cpu_seconds"] is not None and row["cpu_seconds"] >= 0, row
        assert row["memory_mib_end"] > 0 and row["memory_mib_peak"] >= row["memory_mib_end"], row
    assert seen == {**kinds, "monitor": 1, "receiver": 1, "bench": 1}
    roles = {row["kind"]: row["role"] for row in rows}
    assert roles["monitor"] == "observability" and roles["receiver"] == "receiver"
    stack_rows = [row for row in rows if row["role"] == "stack"]
    assert {row["kind"] for row in stack_rows} == set(kinds)
    total = sum(row["cpu_seconds"] for row in stack_rows)
    assert cpu["stack_seconds"] == pytest.approx(total, abs=0.01)
    assert cpu["stack_ms_per_delivery"] == pytest.approx(total * 1000 / (events * fanout), abs=0.01)

    state_dir = report["run"]["stack"]["state_dir"]
    assert state_dir and not Path(state_dir).exists()
    assert pids_of_state_dir(Path(state_dir)) == []


def test_closed_loop_on_sqlite_and_the_db_transport() -> None:
    report = _bench("--database", "sqlite", "--transport", "db", "--events", "40", "--fanout", "2")
    assert report["run"]["mode"] == "closed" and report["run"]["concurrency"] == 20
    assert report["run"]["stack"] == {
        **report["run"]["stack"],
        "started": True,
        "database": "sqlite",
        "transport": "db",
        "workers": 1,
        "nsqd_nodes": 0,
    }
    _check(report, events=40, fanout=2, kinds={"ingest": 1, "worker": 1})
    assert report["cpu"]["postgres_sessions_opened"] is None
    assert report["nsq_to_http"] is None


@pytest.mark.postgres
@pytest.mark.nsq
def test_open_loop_on_postgres_two_nsqd_nodes_and_two_workers() -> None:
    require_binary("nsqd", NSQ_INSTALL_HINT)
    postgres_bin_dir()
    report = _bench(
        "--database", "postgres", "--transport", "nsq", "--workers", "2", "--nsqd-nodes", "2",
        "--rate", "40", "--events", "40", "--fanout", "2",
    )  # fmt: skip
    assert report["run"]["mode"] == "open" and report["run"]["rate"] == 40
    stack = report["run"]["stack"]
    assert (stack["database"], stack["transport"], stack["workers"], stack["nsqd_nodes"]) == (
        "postgres",
        "nsq",
        2,
        2,
    )
    kinds = {"ingest": 1, "worker": 2, "nsqd": 2, "nsqlookupd": 1, "postgres": 1}
    _check(report, events=40, fanout=2, kinds=kinds)
    postgres = next(row for row in report["processes"] if row["kind"] == "postgres")
    assert postgres["processes"] > 2  # runuser, the postmaster and its backends
    assert report["cpu"]["postgres_sessions_opened"] > 0


@pytest.mark.nsq
def test_nsq_to_http_side_by_side() -> None:
    require_binary("nsqd", NSQ_INSTALL_HINT)
    require_binary("nsq_to_http", NSQ_INSTALL_HINT)
    # enough messages that nsq_to_http's CPU time spans several clock ticks (10 ms each): with
    # 60 it could read 0, and its CPU ratio was then unknown (null)
    report = _bench(
        "--transport", "nsq", "--events", "150", "--fanout", "2", "--compare-nsq-to-http"
    )  # fmt: skip
    _check(
        report, events=150, fanout=2, kinds={"ingest": 1, "worker": 1, "nsqd": 1, "nsqlookupd": 1}
    )
    reference = report["nsq_to_http"]
    assert reference["messages"] == reference["delivered"] == 300
    assert reference["nsqd"] == "nsqd"  # the stack's own
    assert set(reference["cpu_seconds"]) == {"nsqd", "nsq_to_http"}
    assert reference["deliveries_per_second"] > 0
    assert reference["harborhook_rate_ratio"] > 0 and reference["harborhook_cpu_ratio"] > 0


def test_the_running_stack_and_an_external_receiver(tmp_path: Path) -> None:
    """Without --start: the stack of `harborctl up` (its processes measured), deliveries
    to a receiver of our own, counted from the workers' metrics."""
    with native_stack(tmp_path) as stack, running_receiver() as receiver:
        stack.remember(stack.run_json(*stack.up_args("--no-nsq")))
        report = stack.run_json(
            "bench", "--events", "20", "--fanout", "2", "--receiver-url", f"{receiver}/ext/ok"
        )
        arrived = httpx.get(f"{receiver}/_count").json()["count"]
    assert report["run"]["stack"]["started"] is False
    assert report["run"]["receiver"] == f"{receiver}/ext/ok"
    assert report["publish"]["accepted"] == 20
    deliveries = report["deliveries"]
    assert deliveries["expected"] == deliveries["received"] == 40 == arrived
    assert deliveries["first_attempt_ms"] is None  # only the bench's receiver knows
    names = {row["name"]: row["role"] for row in report["processes"]}
    assert names["ingest"] == names["worker"] == "stack"
    assert "receiver" not in names and names["bench"] == "bench"
    assert report["cpu"]["stack_ms_per_delivery"] > 0
