"""CPU and memory of process trees from /proc: a fake /proc for the arithmetic, the real one
for this process."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harborctl.bench.procstat import (
    CLOCK_TICKS,
    PAGE_BYTES,
    ProcessMeter,
    ProcStat,
    Tracked,
    parse_stat,
    read_table,
    resident_bytes,
    sample_tree,
)


def _stat_line(
    pid: int, ppid: int, utime: int, stime: int, cutime: int = 0, cstime: int = 0,
    rss: int = 100, name: str = "postgres", state: str = "S",
) -> str:  # fmt: skip
    # fields 3.. of proc(5): state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss
    return (
        f"{pid} ({name}) {state} {ppid} {pid} {pid} 0 -1 4194304 10 0 0 0 "
        f"{utime} {stime} {cutime} {cstime} 20 0 1 0 400120 3133440 {rss} 18446744073709551615\n"
    )


def _write(proc: Path, pid: int, line: str) -> None:
    (proc / str(pid)).mkdir(parents=True, exist_ok=True)
    (proc / str(pid) / "stat").write_text(line)


def test_parse_stat_reads_past_a_command_name_with_spaces_and_parentheses() -> None:
    stat = parse_stat(_stat_line(42, 7, 300, 200, 50, 25, rss=1234, name="a (b) c"))
    assert stat == ProcStat(
        pid=42, ppid=7, state="S", own_ticks=500, children_ticks=75, rss_pages=1234
    )
    with pytest.raises(ValueError):
        parse_stat("garbage")


def test_a_tree_adds_live_descendants_and_what_exited_children_used() -> None:
    table = {
        10: parse_stat(_stat_line(10, 1, 100, 0, cutime=40, cstime=10, rss=1000)),  # postmaster
        11: parse_stat(_stat_line(11, 10, 30, 5, rss=200)),  # a live backend
        12: parse_stat(_stat_line(12, 11, 1, 1, rss=7)),  # its child
        13: parse_stat(_stat_line(13, 10, 20, 0, rss=0, state="Z")),  # exited, not yet reaped
        99: parse_stat(_stat_line(99, 1, 1000, 1000, rss=5000)),  # not in the tree
    }
    tree = sample_tree(10, table, memory=resident_bytes)
    assert tree is not None
    assert tree.cpu_seconds == pytest.approx((150 + 35 + 2 + 20) / CLOCK_TICKS)
    assert tree.memory_bytes == (1000 + 200 + 7) * PAGE_BYTES  # the zombie holds no memory
    assert tree.processes == 3
    alone = sample_tree(10, table, include_children=False, memory=resident_bytes)
    assert alone is not None and alone.cpu_seconds == pytest.approx(100 / CLOCK_TICKS)
    assert sample_tree(5, table) is None


def test_the_meter_keeps_counting_a_backend_that_exits_between_samples(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    _write(proc, 10, _stat_line(10, 1, 100, 0))
    _write(proc, 11, _stat_line(11, 10, 50, 0))  # a backend alive at the start
    _write(proc, 20, _stat_line(20, 1, 7, 0, name="worker"))
    meter = ProcessMeter(
        {"postgres": Tracked(10), "worker": Tracked(20), "gone": Tracked(30)},
        proc=proc,
        memory=resident_bytes,
    )
    meter.start()
    # the backend used 30 more ticks, exited and was reaped: the postmaster's cutime has it
    (proc / "11" / "stat").unlink()
    _write(proc, 10, _stat_line(10, 1, 110, 0, cutime=80))
    _write(proc, 12, _stat_line(12, 10, 5, 0))  # a new backend
    (proc / "20" / "stat").unlink()  # the worker died
    usages = {usage.name: usage for usage in meter.stop()}
    assert set(usages) == {"postgres", "worker"}  # gone from the start: left out
    assert usages["postgres"].cpu_seconds == pytest.approx((10 + 30 + 5) / CLOCK_TICKS)
    assert usages["postgres"].processes == 2
    assert usages["worker"].cpu_seconds is None
    assert usages["worker"].memory_end_bytes is None


def test_this_process_on_the_real_proc() -> None:
    table = read_table()
    me = sample_tree(os.getpid(), table)
    assert me is not None and me.memory_bytes > 0 and me.processes >= 1
    meter = ProcessMeter({"me": Tracked(os.getpid(), include_children=False)})
    meter.start()
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass  # burn some CPU: the meter sees it
    (usage,) = meter.stop()
    assert usage.cpu_seconds is not None and usage.cpu_seconds > 0
    assert usage.memory_peak_bytes >= usage.memory_start_bytes > 0
