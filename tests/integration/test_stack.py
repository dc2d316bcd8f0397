"""`harborctl up` / `status` / `down` for real: supervisord, nsqd, nsqlookupd, ingest, worker.

Every process the test starts is stopped again, even when an assertion fails: the fixture's
teardown runs `harborctl down`, then SIGKILLs by pid whatever of this state dir survived.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.native_stack import OBSERVABILITY, Stack, native_stack
from tests.support.native_stack import alive as _alive
from tests.support.native_stack import poll as _poll
from tests.support.native_stack import port_free as _port_free

pytestmark = pytest.mark.slow

NSQ_INSTALLED = all(shutil.which(binary) for binary in ("nsqd", "nsqlookupd"))


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with native_stack(tmp_path) as created:
        yield created


# ----------------------------------------------------------------- the test


@pytest.mark.parametrize(
    "transport",
    [
        pytest.param(
            "nsq",
            marks=pytest.mark.skipif(not NSQ_INSTALLED, reason="nsqd/nsqlookupd not on PATH"),
        ),
        "db",
    ],
)
def test_up_status_down(stack: Stack, transport: str) -> None:
    extra = () if transport == "nsq" else ("--no-nsq",)
    expected = ["nsqlookupd", "nsqd"] if transport == "nsq" else []
    expected += ["ingest", "worker", "monitor", *OBSERVABILITY]

    started = stack.run_json(*stack.up_args(*extra))
    stack.remember(started)
    assert started["result"] == "started"
    assert started["transport"] == transport
    assert started["state_dir"] == str(stack.state_dir)
    assert started["admin_key"] == str(stack.state_dir / "admin.key")
    admin_key = (stack.state_dir / "admin.key").read_text().strip()
    assert admin_key and admin_key not in json.dumps(started)
    assert [c["name"] for c in started["components"]] == expected
    assert all(c["healthy"] and c["state"] == "RUNNING" for c in started["components"])
    assert f"http://127.0.0.1:{stack.ports['ingest']}" in [c["url"] for c in started["components"]]

    status = stack.run_json("status")
    stack.remember(status)
    assert status["running"] and status["healthy"]
    assert [c["name"] for c in status["components"]] == expected
    assert all(c["healthy"] and c["pid"] for c in status["components"])
    component_pids = {c["pid"] for c in status["components"]}
    supervisord_pid = status["supervisord_pid"]
    assert _alive(supervisord_pid) and all(_alive(pid) for pid in component_pids)

    # a second `up` while running is a no-op: nothing started twice
    again = stack.run_json(*stack.up_args(*extra))
    assert again["result"] == "already_running"
    assert again["supervisord_pid"] == supervisord_pid
    assert {c["pid"] for c in again["components"]} == component_pids
    human = stack.run(*stack.up_args(*extra))
    assert human.returncode == 0 and "already up" in human.stdout

    stopped = stack.run_json("down")
    assert stopped["was_running"] is True
    assert stopped["supervisord_pid"] == supervisord_pid
    assert set(stopped["stopped_pids"]) == component_pids
    assert not _alive(supervisord_pid)
    assert not [pid for pid in component_pids if _alive(pid)]
    assert _poll(lambda: all(_port_free(port) for port in _ports_in_use(stack, transport)), 10)

    gone = stack.run("status")
    assert gone.returncode == 3 and "not running" in gone.stdout
    assert stack.run_json("status", expect=3)["running"] is False
    again_down = stack.run("down")
    assert again_down.returncode == 0 and "not running" in again_down.stdout


def _ports_in_use(stack: Stack, transport: str) -> list[int]:
    if transport == "nsq":
        return list(stack.ports.values())
    return [stack.ports["ingest"], stack.ports["worker_metrics"]]


def test_status_and_down_when_nothing_runs(stack: Stack) -> None:
    status = stack.run("status")
    assert status.returncode == 3
    assert "not running" in status.stdout
    down = stack.run_json("down")
    assert down["was_running"] is False
