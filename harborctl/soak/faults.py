"""Fault injection: doing each fault of the schedule (``harborctl.soak.plan``) to the
running stack, and saying what was done and when.

Processes are stopped and started through the stack's supervisord (the XML-RPC API
``supervisorctl`` speaks), the receiver as the soak's own child process. Each fault returns
an ``InjectedFault``: when it started and ended (wall-clock seconds) and its evidence (the
pid killed and the one that replaced it, the messages nsqd held on disk...), or why it
could not be done (``error``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from harborctl.errors import HarborHookError, StackError
from harborctl.soak.observe import nsqd_backend_depth, postgres_answers
from harborctl.soak.plan import FaultKind, ScheduledFault
from harborctl.soak.receiver import ReceiverProcess
from harborctl.stack.supervisor import SupervisorClient

COME_BACK_SECONDS = 60.0
# supervisord restarts a killed program by itself (autorestart): supervisorctl's start is
# used only when it has not within this long
AUTORESTART_GRACE_SECONDS = 3.0
POLL_SECONDS = 0.2
# a disk spill holds the workers down at most this many times its planned hold waiting for
# nsqd to write to disk
MAX_SPILL_HOLD_FACTOR = 4


@dataclass
class InjectedFault:
    """One fault as it happened; ``error`` set when it could not be injected."""

    kind: FaultKind
    target: str
    scheduled_at: float  # seconds after the load started
    started_at: float = 0.0  # wall clock
    ended_at: float = 0.0  # wall clock: the target is back
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind.value} {self.target}"


class FaultInjector:
    """Injects faults into one stack (its supervisord, its nsqd nodes, its PostgreSQL) and
    the soak's receiver."""

    def __init__(
        self,
        supervisor: SupervisorClient,
        receiver: ReceiverProcess,
        *,
        workers: list[str],
        nsqd_urls: dict[str, str],
        database_url: str,
        mem_queue_size: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.supervisor = supervisor
        self.receiver = receiver
        self.workers = workers
        self.nsqd_urls = nsqd_urls
        self.database_url = database_url
        self.mem_queue_size = mem_queue_size
        self.clock = clock

    def inject(self, fault: ScheduledFault) -> InjectedFault:
        """Do ``fault`` and wait until its target is back (blocking)."""
        done = InjectedFault(fault.kind, fault.target, fault.at, started_at=self.clock())
        actions: dict[FaultKind, Callable[[ScheduledFault, InjectedFault], None]] = {
            FaultKind.WORKER_KILL: self._kill_worker,
            FaultKind.NSQD_RESTART: self._restart_nsqd,
            FaultKind.DISK_SPILL: self._spill_to_disk,
            FaultKind.POSTGRES_RESTART: self._restart_postgres,
            FaultKind.RECEIVER_OUTAGE: self._receiver_outage,
        }
        try:
            actions[fault.kind](fault, done)
        except HarborHookError as exc:
            done.error = str(exc)
        done.ended_at = self.clock()
        return done

    # ----- the faults

    def _kill_worker(self, fault: ScheduledFault, done: InjectedFault) -> None:
        name = fault.target
        info = self.supervisor.processes().get(name)
        if info is None or info.pid is None:
            raise HarborHookError(f"{name} is not running: nothing to kill")
        os.kill(info.pid, signal.SIGKILL)
        done.detail["killed_pid"] = info.pid
        # supervisord restarts a program that died unexpectedly (autorestart); when it has
        # not, or gave up, supervisorctl's start does it
        killed = time.monotonic()
        deadline = killed + COME_BACK_SECONDS
        restarted_by = "supervisord"
        while time.monotonic() < deadline:
            now = self.supervisor.processes().get(name)
            if now is not None and now.pid not in (None, info.pid) and now.state == "RUNNING":
                done.detail.update(new_pid=now.pid, restarted_by=restarted_by)
                return
            down = now is not None and now.state in ("EXITED", "FATAL", "STOPPED")
            if down and time.monotonic() - killed >= AUTORESTART_GRACE_SECONDS:
                try:
                    self.supervisor.start(name)
                    restarted_by = "supervisorctl"
                except StackError as exc:  # supervisord got there first
                    if "ALREADY_STARTED" not in str(exc):
                        raise
            time.sleep(POLL_SECONDS)
        raise HarborHookError(f"{name} did not come back within {COME_BACK_SECONDS:g} s")

    def _restart_nsqd(self, fault: ScheduledFault, done: InjectedFault) -> None:
        self._stop_hold_start(fault.target, fault.hold, done)
        url = self.nsqd_urls.get(fault.target)
        if url is not None:
            self._wait(lambda: _pings(url), f"{fault.target} answering /ping")

    def _restart_postgres(self, fault: ScheduledFault, done: InjectedFault) -> None:
        self._stop_hold_start(fault.target, fault.hold, done)
        self._wait(lambda: postgres_answers(self.database_url), "PostgreSQL answering")

    def _receiver_outage(self, fault: ScheduledFault, done: InjectedFault) -> None:
        self.receiver.stop()
        done.detail["down_at"] = self.clock()
        time.sleep(fault.hold)
        self.receiver.start()
        done.detail["down_seconds"] = round(self.clock() - done.detail["down_at"], 2)

    def _spill_to_disk(self, fault: ScheduledFault, done: InjectedFault) -> None:
        """Stop every worker while the load goes on, until nsqd holds messages on disk (at
        least the planned hold), then start them again."""
        for name in self.workers:
            self.supervisor.stop(name, wait=False)
        self._wait(lambda: self._all_in_state(self.workers, "STOPPED"), "the workers to stop")
        done.detail["workers_stopped"] = list(self.workers)
        stopped = time.monotonic()
        deepest = 0
        with httpx.Client(timeout=2.0, trust_env=False) as http:
            while True:
                depths = [nsqd_backend_depth(url, http) for url in self.nsqd_urls.values()]
                deepest = max(deepest, sum(d for d in depths if d is not None))
                held = time.monotonic() - stopped
                if held >= fault.hold and deepest > 0:
                    break
                if held >= fault.hold * MAX_SPILL_HOLD_FACTOR:
                    break
                time.sleep(POLL_SECONDS)
        done.detail.update(
            on_disk_max=deepest,
            mem_queue_size=self.mem_queue_size,
            held_seconds=round(time.monotonic() - stopped, 2),
        )
        for name in self.workers:
            self.supervisor.start(name)
        self._wait(lambda: self._all_in_state(self.workers, "RUNNING"), "the workers running")
        if deepest == 0:
            raise HarborHookError(
                f"nsqd wrote nothing to disk while the workers were stopped "
                f"(mem-queue-size {self.mem_queue_size})"
            )

    # ----- helpers

    def _stop_hold_start(self, name: str, hold: float, done: InjectedFault) -> None:
        before = self.supervisor.processes().get(name)
        self.supervisor.stop(name)
        done.detail["stopped_pid"] = before.pid if before else None
        time.sleep(hold)
        self.supervisor.start(name)
        self._wait(lambda: self._all_in_state([name], "RUNNING"), f"{name} running again")
        after = self.supervisor.processes().get(name)
        done.detail["new_pid"] = after.pid if after else None

    def _all_in_state(self, names: list[str], state: str) -> bool:
        processes = self.supervisor.processes()
        return all(
            (info := processes.get(name)) is not None and info.state == state for name in names
        )

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + COME_BACK_SECONDS
        while not ready():
            if time.monotonic() >= deadline:
                raise HarborHookError(f"gave up waiting for {what} ({COME_BACK_SECONDS:g} s)")
            time.sleep(POLL_SECONDS)


def _pings(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ping", timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False
