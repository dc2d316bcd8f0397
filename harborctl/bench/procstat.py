"""CPU time and memory of process trees, read from ``/proc`` (Linux).

The CPU of a process tree is, summed over the process and its live descendants,
``utime + stime`` (fields 14-15 of ``/proc/<pid>/stat``) plus ``cutime + cstime`` (16-17:
what their exited children used once reaped). So a PostgreSQL postmaster's tree counts its
live backends directly and every backend that exited meanwhile through the postmaster's
``cutime``/``cstime``; the difference of two samples is the CPU the tree used in between,
whichever of its processes came and went. Memory is the proportional set size (``Pss:`` of
``/proc/<pid>/smaps_rollup``: the resident set with each shared page divided among the
processes sharing it) summed over the tree's live processes, so PostgreSQL's shared buffers
count once for all its backends, not once per backend; the resident set (field 24) where
``smaps_rollup`` cannot be read. Source: proc(5).

``parse_stat`` is pure; ``read_table`` and ``sample_tree`` read ``/proc``; ``ProcessMeter``
samples named trees at the start and end of a measurement (and their memory every second
in between, for the peak).
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
PEAK_SAMPLE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ProcStat:
    """One line of ``/proc/<pid>/stat``: times in clock ticks, resident set in pages."""

    pid: int
    ppid: int
    state: str
    own_ticks: int  # utime + stime
    children_ticks: int  # cutime + cstime (reaped children)
    rss_pages: int


def parse_stat(text: str) -> ProcStat:
    """Parse ``/proc/<pid>/stat`` (the command name may hold spaces and parentheses: the
    fields after it start at the last ``)``). ValueError when it is not one."""
    head, _, tail = text.rpartition(")")
    fields = tail.split()
    if not head or len(fields) < 22:
        raise ValueError(f"not a /proc stat line: {text[:60]!r}")
    pid = int(head.partition("(")[0])
    # fields[0] is field 3 (state) of proc(5)
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        state=fields[0],
        own_ticks=int(fields[11]) + int(fields[12]),
        children_ticks=int(fields[13]) + int(fields[14]),
        rss_pages=max(0, int(fields[21])),
    )


def read_stat(pid: int, proc: Path = Path("/proc")) -> ProcStat | None:
    """The process's stat, None when it is gone."""
    try:
        return parse_stat((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError):
        return None


def read_table(proc: Path = Path("/proc")) -> dict[int, ProcStat]:
    """Every process's stat, by pid."""
    table: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            found = read_stat(int(entry.name), proc)
            if found is not None:
                table[found.pid] = found
    return table


def resident_bytes(stat: ProcStat) -> int:
    return stat.rss_pages * PAGE_BYTES


def proportional_bytes(stat: ProcStat, proc: Path = Path("/proc")) -> int:
    """PSS of the process (module docstring), its RSS when ``smaps_rollup`` is unreadable."""
    try:
        with (proc / str(stat.pid) / "smaps_rollup").open() as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resident_bytes(stat)


Memory = Callable[[ProcStat], int]


@dataclass(frozen=True, slots=True)
class TreeSample:
    cpu_seconds: float
    memory_bytes: int
    processes: int


def sample_tree(
    pid: int,
    table: Mapping[int, ProcStat],
    *,
    include_children: bool = True,
    memory: Memory = proportional_bytes,
) -> TreeSample | None:
    """CPU and memory of ``pid`` and its live descendants (module docstring); None when
    ``pid`` is not in ``table``. ``include_children=False``: the process alone, without
    what its children used (the bench measuring itself apart from its receiver)."""
    if pid not in table:
        return None
    if not include_children:
        own = table[pid]
        return TreeSample(own.own_ticks / CLOCK_TICKS, memory(own), 1)
    children: dict[int, list[int]] = defaultdict(list)
    for stat in table.values():
        children[stat.ppid].append(stat.pid)
    ticks = size = count = 0
    todo = [pid]
    while todo:
        current = table[todo.pop()]
        ticks += current.own_ticks + current.children_ticks
        if current.state not in ("Z", "X"):
            size += memory(current)
            count += 1
        todo.extend(children.get(current.pid, ()))
    return TreeSample(ticks / CLOCK_TICKS, size, count)


@dataclass(frozen=True)
class Usage:
    """What one named process tree used between ``start`` and ``stop`` of a meter."""

    name: str
    pid: int
    cpu_seconds: float | None  # None when it was gone by the end
    memory_start_bytes: int
    memory_end_bytes: int | None
    memory_peak_bytes: int
    processes: int  # live processes of the tree at the end

    @property
    def memory_mib(self) -> tuple[float, float | None, float]:
        end = None if self.memory_end_bytes is None else self.memory_end_bytes / MIB
        return self.memory_start_bytes / MIB, end, self.memory_peak_bytes / MIB


@dataclass(frozen=True)
class Tracked:
    pid: int
    include_children: bool = True


class ProcessMeter:
    """CPU and memory of named process trees over one measurement.

    ``start()`` samples them and starts a thread sampling their memory every second (for
    the peak); ``stop()`` samples them again and returns a ``Usage`` per name. A tree whose
    root is gone at the start is left out; one gone by the end reports ``cpu_seconds=None``.
    """

    def __init__(
        self,
        tracked: Mapping[str, Tracked],
        proc: Path = Path("/proc"),
        memory: Memory | None = None,
    ) -> None:
        self.tracked = dict(tracked)
        self.proc = proc
        self.memory: Memory = memory or (lambda stat: proportional_bytes(stat, proc))
        self._start: dict[str, TreeSample] = {}
        self._peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> dict[str, TreeSample]:
        table = read_table(self.proc)
        samples: dict[str, TreeSample] = {}
        for name, item in self.tracked.items():
            found = sample_tree(
                item.pid, table, include_children=item.include_children, memory=self.memory
            )
            if found is not None:
                samples[name] = found
        return samples

    def start(self) -> None:
        self._start = self._sample()
        self._peak = {name: sample.memory_bytes for name, sample in self._start.items()}
        self._thread = threading.Thread(target=self._watch, name="bench-memory", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(PEAK_SAMPLE_SECONDS):
            for name, sample in self._sample().items():
                if name in self._peak:
                    self._peak[name] = max(self._peak[name], sample.memory_bytes)

    def stop(self) -> list[Usage]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        end = self._sample()
        usages = []
        for name, first in self._start.items():
            last = end.get(name)
            peak = max(self._peak.get(name, 0), last.memory_bytes if last else 0)
            usages.append(
                Usage(
                    name=name,
                    pid=self.tracked[name].pid,
                    cpu_seconds=None
                    if last is None
                    else max(0.0, last.cpu_seconds - first.cpu_seconds),
                    memory_start_bytes=first.memory_bytes,
                    memory_end_bytes=None if last is None else last.memory_bytes,
                    memory_peak_bytes=peak,
                    processes=0 if last is None else last.processes,
                )
            )
        return usages
