"""A short fault soak for real (``harborctl soak``): PostgreSQL, two nsqd behind nsqlookupd,
three workers, a steady load, every fault injected once; nothing may be lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from harborctl.soak.plan import ROUND, FaultKind, minimum_load_seconds
from tests.support.services import NSQ_INSTALL_HINT, postgres_bin_dir, require_binary

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 900.0


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    postgres_bin_dir()  # skips (or fails under CI) without PostgreSQL
    for binary in ("nsqd", "nsqlookupd"):
        require_binary(binary, NSQ_INSTALL_HINT)
    env = {key: value for key, value in os.environ.items() if not key.startswith("HARBORHOOK_")}
    minutes = (minimum_load_seconds() + 1) / 60
    result = subprocess.run(
        [sys.executable, "-m", "harborctl", "soak", "--json", "--minutes", f"{minutes:.3f}",
         "--events-per-second", "60", "--drain-timeout", "180"],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-3000:]}"
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_nothing_is_lost_and_the_pipeline_drains(report: dict[str, Any]) -> None:
    deliveries, publish = report["deliveries"], report["publish"]
    assert report["problems"] == []
    assert deliveries["lost"] == 0 and deliveries["lost_sample"] == []
    assert deliveries["missing_rows"] == 0 and deliveries["unexpected"] == 0
    assert publish["accepted"] == publish["planned"] == report["run"]["events_planned"]
    assert deliveries["expected"] == deliveries["delivered"] + deliveries["dead"]
    assert report["drain"]["drained"] is True
    assert report["drain"]["seconds_after_last_fault"] >= 0
    # the hanging endpoint's deliveries end dead; the healthy ones never do
    assert deliveries["dead"] > 0
    assert all(reason.startswith("hang: ") for reason in deliveries["dead_reasons"])
    assert sum(deliveries["duplicates_by_fault"].values()) == deliveries["duplicates"]


def test_every_fault_was_injected_with_its_time_and_evidence(report: dict[str, Any]) -> None:
    faults = report["faults"]
    assert [f["kind"] for f in faults] == [kind.value for kind in ROUND]
    assert report["run"]["faults_scheduled"] == len(faults)
    for fault in faults:
        assert fault["error"] is None, fault
        assert fault["at_seconds"] >= 0 and fault["seconds"] >= 0, fault
    by_kind = {FaultKind(f["kind"]): f["detail"] for f in faults}
    killed = by_kind[FaultKind.WORKER_KILL]
    assert killed["new_pid"] != killed["killed_pid"]
    spill = by_kind[FaultKind.DISK_SPILL]
    assert spill["on_disk_max"] > 0 and spill["mem_queue_size"] > 0
    for kind in (FaultKind.NSQD_RESTART, FaultKind.POSTGRES_RESTART):
        assert by_kind[kind]["new_pid"] != by_kind[kind]["stopped_pid"]
    assert by_kind[FaultKind.RECEIVER_OUTAGE]["down_seconds"] > 0


def test_postgres_down_during_publish_is_503_never_500(report: dict[str, Any]) -> None:
    publish = report["publish"]
    assert publish["server_errors"] == {}
    assert publish["rejected"] == 0 and publish["abandoned"] == 0
    assert publish["refusals_without_retry_after"] == 0
    refused_by_postgres = sum(
        count
        for window, count in publish["refusals_by_fault"].items()
        if window.startswith(FaultKind.POSTGRES_RESTART.value)
    )
    assert refused_by_postgres > 0, publish
    # every refusal was retried with the same idempotency key and ended accepted
    assert publish["retried_events"] > 0
    for worker in report["workers"]:
        assert worker["rss_mib_start"] > 0 and worker["rss_mib_end"] > 0, worker
