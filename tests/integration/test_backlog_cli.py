"""`harborctl backlog --json` against real nsqd nodes found through a real nsqlookupd.

Nothing consumes the test topics, so nsqd's numbers hold still: the CLI's answer is taken
between two reads of nsqd's own /stats that agree with each other.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.services import Nsqd, NsqdFactory, NsqLookupd
from tests.support.wait import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.nsq]

COMPARED = ("depth", "in_flight", "deferred", "requeued", "timed_out", "messages", "clients")
NSQD_FIELDS = {
    "depth": "depth",
    "in_flight": "in_flight_count",
    "deferred": "deferred_count",
    "requeued": "requeue_count",
    "timed_out": "timeout_count",
    "messages": "message_count",
    "clients": "client_count",
}


def backlog(lookupd: NsqLookupd, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBORHOOK_")}
    env.update(
        HARBORHOOK_STATE_DIR=str(tmp_path / "state"),
        HARBORHOOK_TRANSPORT="nsq",
        HARBORHOOK_NSQLOOKUPD_HTTP_ADDRESSES=json.dumps([lookupd.http_address]),
    )
    return subprocess.run(
        [sys.executable, "-m", "harborctl", "backlog", "--no-db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def fill(node: Nsqd, topic: str, messages: int, deferred: int) -> None:
    """A channel with ``messages`` waiting and ``deferred`` messages deferred by a minute."""
    for path, params in (("topic", {"topic": topic}), ("channel", {"topic": topic})):
        if path == "channel":
            params["channel"] = "workers"
        httpx.post(f"{node.http_url}/{path}/create", params=params).raise_for_status()
    for n in range(messages):
        node.publish(topic, f"m{n}".encode())
    for n in range(deferred):
        httpx.post(
            f"{node.http_url}/pub", params={"topic": topic, "defer": "60000"}, content=f"d{n}"
        ).raise_for_status()


def nsqd_view(node: Nsqd, topic: str) -> dict[str, Any]:
    stats = node.topic_stats(topic)
    assert stats is not None
    [channel] = stats["channels"]
    return {
        "topic_depth": stats["depth"],
        **{ours: channel[theirs] for ours, theirs in NSQD_FIELDS.items()},
    }


def cli_view(report: dict[str, Any], node: Nsqd, topic: str) -> dict[str, Any]:
    [topic_row] = [
        t for t in report["topics"] if t["topic"] == topic and t["nsqd"] == node.http_address
    ]
    [row] = [
        c for c in report["channels"] if c["topic"] == topic and c["nsqd"] == node.http_address
    ]
    assert row["channel"] == "workers"
    return {"topic_depth": topic_row["depth"], **{key: row[key] for key in COMPARED}}


def agree(nodes: list[Nsqd], topic: str, lookupd: NsqLookupd, tmp_path: Path) -> dict[str, Any]:
    """Run the CLI between two equal reads of every node's /stats; compare per node."""
    before = [nsqd_view(node, topic) for node in nodes]
    result = backlog(lookupd, tmp_path, "--json")
    after = [nsqd_view(node, topic) for node in nodes]
    assert result.returncode == 0, result.stderr
    assert before == after, "nsqd's stats moved while the CLI ran"
    report: dict[str, Any] = json.loads(result.stdout)
    for node, seen in zip(nodes, before, strict=True):
        assert cli_view(report, node, topic) == seen
    return report


def wait_registered(lookupd: NsqLookupd, nodes: list[Nsqd], topic: str) -> None:
    wanted = {node.http_port for node in nodes}
    wait_until(
        lambda: wanted <= {p["http_port"] for p in lookupd.producers(topic)},
        15,
        interval=0.1,
        describe=f"nsqlookupd to know {topic} on {sorted(wanted)}",
    )


def test_backlog_json_agrees_with_nsqd_stats_on_one_node(
    nsqd: Nsqd, nsqlookupd: NsqLookupd, tmp_path: Path
) -> None:
    topic = f"backlog.{uuid.uuid4().hex[:8]}"
    fill(nsqd, topic, messages=5, deferred=2)
    wait_registered(nsqlookupd, [nsqd], topic)
    report = agree([nsqd], topic, nsqlookupd, tmp_path)
    row = cli_view(report, nsqd, topic)
    assert (row["depth"], row["deferred"], row["in_flight"]) == (5, 2, 0)
    assert {"address": nsqd.http_address, "ok": True, "error": None} in report["nsqd"]


def test_backlog_json_agrees_with_nsqd_stats_on_two_nodes(
    nsqd: Nsqd, nsqd_factory: NsqdFactory, nsqlookupd: NsqLookupd, tmp_path: Path
) -> None:
    second = nsqd_factory()
    topic = f"backlog.{uuid.uuid4().hex[:8]}"
    fill(nsqd, topic, messages=3, deferred=1)
    fill(second, topic, messages=4, deferred=0)
    wait_registered(nsqlookupd, [nsqd, second], topic)
    report = agree([nsqd, second], topic, nsqlookupd, tmp_path)
    depths = {c["nsqd"]: c["depth"] for c in report["channels"] if c["topic"] == topic}
    assert depths == {nsqd.http_address: 3, second.http_address: 4}


def test_fail_above_sets_the_exit_code(nsqd: Nsqd, nsqlookupd: NsqLookupd, tmp_path: Path) -> None:
    topic = f"backlog.{uuid.uuid4().hex[:8]}"
    fill(nsqd, topic, messages=3, deferred=0)
    wait_registered(nsqlookupd, [nsqd], topic)
    waiting = json.loads(backlog(nsqlookupd, tmp_path, "--json").stdout)["waiting"]
    assert waiting >= 3
    above = backlog(nsqlookupd, tmp_path, "--fail-above", str(waiting - 1))
    assert above.returncode == 8
    assert f"backlog {waiting} is above {waiting - 1}" in above.stderr
    assert len(above.stderr.strip().splitlines()) == 1
    assert backlog(nsqlookupd, tmp_path, "--fail-above", str(waiting)).returncode == 0
    table = backlog(nsqlookupd, tmp_path)
    assert table.returncode == 0 and topic in table.stdout


def test_unreachable_nsqlookupd_is_one_error_line(tmp_path: Path) -> None:
    dead = NsqLookupd.__new__(NsqLookupd)
    dead.http_port = 1  # nothing listens on port 1
    result = backlog(dead, tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error: nsqlookupd 127.0.0.1:1")
    assert len(result.stderr.strip().splitlines()) == 1
