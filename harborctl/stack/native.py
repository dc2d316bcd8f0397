"""The native stack of one state dir: supervisord starting, watching and stopping the plan.

``NativeStack(layout).up(plan)`` writes supervisord's config and the stack's files (and
initialises the stack's PostgreSQL cluster when it has one), starts supervisord (daemonized,
listening on a unix socket in ``<state_dir>/run/``), waits until the infrastructure (stage 0)
answers its health checks, creates and migrates the database, starts HarborHook's own
processes (stage 1), waits until they and the rest (stage 2) are healthy too, and stops
everything again when one does not come up;
``status()`` reports live state and health; ``down()`` shuts supervisord (and with it every
component) down and waits until it is gone. One ``up`` at a time per state dir.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from harborctl.errors import HarborHookError, StackError
from harborctl.layout import StateLayout
from harborctl.render import write_file
from harborctl.stack.configs import prepare_stack_configs
from harborctl.stack.health import Health, health_client, probe
from harborctl.stack.model import (
    MIN_STOP_WAIT_SECONDS,
    STACK_DATABASE,
    STAGE_HARBORHOOK,
    STAGE_INDEPENDENT,
    STAGE_INFRASTRUCTURE,
    Component,
    StackPlan,
)
from harborctl.stack.plan import stack_settings
from harborctl.stack.postgres import link_home
from harborctl.stack.processes import kill_leftover, pid_alive, port_in_use, tail_lines, wait_until
from harborctl.stack.status import (
    ComponentFailure,
    ComponentStatus,
    DownResult,
    StackStartFailed,
    StackStatus,
    UpResult,
)
from harborctl.stack.supervisor import ProcessInfo, SupervisorClient, render_supervisor_config

DEFAULT_START_TIMEOUT = 60.0
# sun_path is 108 bytes on Linux (104 on macOS), including the trailing NUL.
MAX_SOCKET_PATH = 103
# process states in which waiting longer will not help
_GAVE_UP_STATES = frozenset({"FATAL", "UNKNOWN"})
# a component that died twice while `up` waits for it is not going to come up by itself
MAX_STARTS_WHILE_WAITING = 3


class NativeStack:
    """The native stack of one state dir, run by supervisord."""

    def __init__(self, layout: StateLayout, *, rpc_timeout: float = 10.0) -> None:
        self.layout = layout
        self.client = SupervisorClient(layout.supervisor_socket, timeout=rpc_timeout)

    # ----- observing

    def running(self) -> bool:
        if not self.layout.supervisor_socket.exists():
            return False
        try:
            self.client.state()
        except StackError:
            return False
        return True

    def started_plan(self) -> StackPlan | None:
        try:
            return StackPlan.from_dict(json.loads(self.layout.stack_file.read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def status(self) -> StackStatus | None:
        """Live status, or None when the stack is not running."""
        if not self.running():
            return None
        plan = self.started_plan()
        supervisord_pid = self.client.pid()
        processes = self.client.processes()
        components = list(plan.components) if plan else []
        known = {component.name for component in components}
        components += [Component(name, (), "") for name in processes if name not in known]
        with health_client() as http:
            rows = [_component_status(c, processes.get(c.name), http) for c in components]
        return StackStatus(
            state_dir=self.layout.root,
            transport=plan.transport if plan else "unknown",
            supervisord_pid=supervisord_pid,
            components=tuple(rows),
            notes=plan.notes if plan else (),
            database=plan.database if plan else "unknown",
        )

    # ----- starting

    def up(
        self,
        plan: StackPlan,
        *,
        timeout: float = DEFAULT_START_TIMEOUT,
        progress: Callable[[str], None] = lambda message: None,
    ) -> UpResult:
        """Start the stack and wait until it is healthy; a no-op when it already runs."""
        with self._up_lock():
            return self._up(plan, timeout=timeout, progress=progress)

    @contextmanager
    def _up_lock(self) -> Iterator[None]:
        """One ``up`` at a time per state dir: a second one waits, then finds it running."""
        self.layout.run_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.layout.up_lock_file.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _up(self, plan: StackPlan, *, timeout: float, progress: Callable[[str], None]) -> UpResult:
        current = self.status()
        if current is not None:
            return UpResult(already_running=True, status=current)
        self._preflight(plan)
        self._prepare(plan)
        progress("starting supervisord")
        try:
            deadline = time.monotonic() + timeout
            self._launch_supervisord()
            self._wait_for_supervisord(deadline)
            self._wait_healthy(plan, _stage(plan, STAGE_INFRASTRUCTURE), deadline, progress)
            self._prepare_database(plan, progress)
            later = _stage(plan, STAGE_HARBORHOOK)
            if later:
                progress("starting " + ", ".join(later))
            for name in later:
                self.client.start(name)
            rest = later + _stage(plan, STAGE_INDEPENDENT)
            self._wait_healthy(plan, rest, deadline, progress)
            status = self.status()
            if status is None:
                raise StackStartFailed("supervisord went away while starting the stack")
        except BaseException:
            progress("stopping what was started")
            try:
                self.down()
            except StackError as exc:
                raise StackError(f"start failed and so did stopping: {exc}") from exc
            raise
        return UpResult(already_running=False, status=status)

    def _preflight(self, plan: StackPlan) -> None:
        if len(str(self.layout.supervisor_socket).encode()) > MAX_SOCKET_PATH:
            raise StackError(
                f"state dir {self.layout.root} is too long for supervisord's unix socket "
                f"({self.layout.supervisor_socket}); choose a shorter --state-dir"
            )
        if self._stale_supervisord_pid() is not None:
            raise StackError(
                f"a supervisord of {self.layout.root} is alive but does not answer on "
                f"{self.layout.supervisor_socket}; run `harborctl down` first"
            )
        busy = [
            f"{host}:{port} ({component.name})"
            for component in plan.components
            for host, port in component.listens
            if port_in_use(host, port)
        ]
        if busy:
            raise StackError(
                f"port already in use: {', '.join(busy)}; stop what holds it or choose other ports"
            )

    def _prepare(self, plan: StackPlan) -> None:
        layout = self.layout
        layout.root.mkdir(parents=True, exist_ok=True)
        layout.run_dir.mkdir(mode=0o700, exist_ok=True)
        layout.process_logs_dir.mkdir(exist_ok=True)
        nodes = len(plan.of_kind("nsqd"))
        for node in range(1, nodes + 1):
            layout.nsqd_node_data_dir(node, nodes).mkdir(exist_ok=True)
        if plan.postgres is not None:
            plan.postgres.prepare()  # its home, owned by the postgres OS user; initdb once
            link_home(layout, plan.postgres.home)
        # the environment may carry secrets (HARBORHOOK_ADMIN_KEY, a database password): 0600
        write_file(layout.supervisor_config, render_supervisor_config(plan), mode=0o600)
        write_file(layout.stack_file, json.dumps(plan.to_dict(), indent=2) + "\n", mode=0o600)
        shared = stack_settings(plan.env, plan.components, share_database=plan.postgres is not None)
        write_file(layout.stack_settings_file, json.dumps(shared, indent=2) + "\n")
        if plan.settings is not None:
            names = [component.name for component in plan.components]
            alertmanager = plan.component("alertmanager").url if "alertmanager" in names else None
            prepare_stack_configs(
                plan.settings,
                names,
                alertmanager,
                worker_metrics_ports=plan.worker_metrics_ports,
            )

    def _prepare_database(self, plan: StackPlan, progress: Callable[[str], None]) -> None:
        """Create the stack's PostgreSQL database when missing, then migrate the database
        once, before any HarborHook process starts (StackStartFailed when it fails)."""
        if plan.postgres is not None:
            progress(f"creating database {STACK_DATABASE}")
            plan.postgres.create_database(STACK_DATABASE, exist_ok=True)
        if plan.database_url is None:
            return
        from harborctl.store.database import make_engine, migrate

        progress("migrating the database")
        try:
            engine = make_engine(plan.database_url)
            try:
                migrate(engine)
            finally:
                engine.dispose()
        except HarborHookError as exc:
            raise StackStartFailed(f"the database is not ready: {exc}") from exc

    def _launch_supervisord(self) -> None:
        layout = self.layout
        command = [
            sys.executable,
            "-m",
            "supervisor.supervisord",
            "-c",
            str(layout.supervisor_config),
        ]
        # output to a file, not a pipe: the daemonized child would hold a pipe open forever
        with layout.supervisor_output.open("ab") as output:
            try:
                result = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    cwd=layout.root,
                    start_new_session=True,
                    timeout=30,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise StackError(f"could not start supervisord: {exc}") from exc
        if result.returncode != 0:
            tail = tail_lines(layout.supervisor_output, 10) + tail_lines(layout.supervisor_log, 10)
            raise StackStartFailed(
                f"supervisord exited with status {result.returncode}",
                [ComponentFailure("supervisord", "did not start", layout.supervisor_output, tail)],
            )

    def _wait_healthy(
        self,
        plan: StackPlan,
        names: Sequence[str],
        deadline: float,
        progress: Callable[[str], None],
    ) -> None:
        watch = _StartWatch(plan, names)
        with health_client() as http:
            while True:
                gave_up = watch.check(self.client.processes(), http)
                if not watch.pending:
                    return
                if not gave_up and time.monotonic() >= deadline:
                    gave_up = watch.overdue()
                if gave_up:
                    raise self._start_failed(gave_up)
                progress("waiting for " + ", ".join(sorted(watch.pending)))
                time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    def _wait_for_supervisord(self, deadline: float) -> None:
        """Until supervisord answers on its socket (at most 15 s), else StackStartFailed."""
        if wait_until(self.running, min(deadline, time.monotonic() + 15)):
            return
        raise StackStartFailed(
            f"supervisord does not answer on {self.layout.supervisor_socket}",
            [
                ComponentFailure(
                    "supervisord",
                    "no answer on its socket",
                    self.layout.supervisor_log,
                    tail_lines(self.layout.supervisor_log),
                )
            ],
        )

    def _start_failed(self, gave_up: Mapping[str, str]) -> StackStartFailed:
        """The failure of ``up``: each component given up on, why, and its last log lines."""
        return StackStartFailed(
            "not healthy: " + ", ".join(f"{n} ({why})" for n, why in gave_up.items()),
            [
                ComponentFailure(
                    name,
                    why,
                    self.layout.process_log(name),
                    tail_lines(self.layout.process_log(name)),
                )
                for name, why in gave_up.items()
            ],
        )

    # ----- stopping

    def _stale_supervisord_pid(self) -> int | None:
        """The pid of a live supervisord of this state dir that we cannot reach by socket."""
        try:
            pid = int(self.layout.supervisor_pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        ours = str(self.layout.supervisor_config).encode() in cmdline and any(
            b"supervisord" in arg for arg in cmdline
        )
        return pid if ours else None

    def down(self, timeout: float | None = None) -> DownResult:
        """Shut supervisord (and with it every component) down; wait until its pid is gone."""
        plan = self.started_plan()
        stopping = self._ask_to_stop()
        if stopping is None:
            self._forget()
            return DownResult(was_running=False)
        supervisord_pid, children = stopping
        if timeout is None:
            timeout = _down_timeout(plan)
        deadline = time.monotonic() + timeout
        forced = not wait_until(lambda: not pid_alive(supervisord_pid), deadline, 0.1)
        if forced:
            kill_leftover(supervisord_pid, group=False)
        for pid in children:
            if pid_alive(pid):
                forced = True
                kill_leftover(pid, group=True)
        self._forget()
        return DownResult(
            was_running=True,
            supervisord_pid=supervisord_pid,
            stopped_pids=children,
            forced=forced,
        )

    def _ask_to_stop(self) -> tuple[int, tuple[int, ...]] | None:
        """Ask supervisord to shut down: (its pid, its children's pids); None when none lives."""
        if self.running():
            supervisord_pid = self.client.pid()
            children = tuple(
                info.pid for info in self.client.processes().values() if info.pid is not None
            )
            # already shutting down, or just gone: the pid wait of `down` decides
            with suppress(StackError):
                self.client.shutdown()
            return supervisord_pid, children
        stale = self._stale_supervisord_pid()
        if stale is None:
            return None
        os.kill(stale, signal.SIGTERM)  # supervisord shuts down cleanly on TERM too
        return stale, ()

    def _forget(self) -> None:
        """Remove what a stopped stack leaves behind (never while its supervisord lives)."""
        if self._stale_supervisord_pid() is None:
            for path in (
                self.layout.stack_file,
                self.layout.stack_settings_file,
                self.layout.supervisor_socket,
                self.layout.supervisor_pidfile,
            ):
                path.unlink(missing_ok=True)


def _stage(plan: StackPlan, stage: int) -> list[str]:
    return [component.name for component in plan.components if component.stage == stage]


def _down_timeout(plan: StackPlan | None) -> float:
    """How long ``down`` waits for supervisord: each program's stop wait, one after another."""
    count = len(plan.components) if plan else 4
    stop_wait = plan.stop_wait_seconds if plan else MIN_STOP_WAIT_SECONDS
    return stop_wait * max(count, 1) + 10.0


def _component_status(
    component: Component, info: ProcessInfo | None, http: httpx.Client
) -> ComponentStatus:
    state = info.state if info else "MISSING"
    health = probe(component, state, http)
    return ComponentStatus(
        name=component.name,
        kind=component.kind,
        state=state,
        pid=info.pid if info else None,
        uptime_seconds=info.uptime_seconds if info else None,
        healthy=health.ok,
        health=health.detail,
        url=component.url,
    )


class _StartWatch:
    """The components ``up`` still waits for, and the pids each one has had meanwhile."""

    def __init__(self, plan: StackPlan, names: Sequence[str]) -> None:
        self.plan = plan
        self.pending = {name: Health(False, "starting") for name in names}
        self.pids_seen: dict[str, set[int]] = {name: set() for name in self.pending}

    def check(self, processes: Mapping[str, ProcessInfo], http: httpx.Client) -> dict[str, str]:
        """Probe each pending component once (healthy ones leave ``pending``); returns the
        components not worth waiting for any longer, with why."""
        gave_up: dict[str, str] = {}
        for name in list(self.pending):
            info = processes.get(name)
            why = "not known to supervisord" if info is None else self._check(name, info, http)
            if why is not None:
                gave_up[name] = why
        return gave_up

    def _check(self, name: str, info: ProcessInfo, http: httpx.Client) -> str | None:
        if info.pid is not None:
            self.pids_seen[name].add(info.pid)
        health = probe(self.plan.component(name), info.state, http)
        if health.ok:
            del self.pending[name]
            return None
        self.pending[name] = health
        starts = len(self.pids_seen[name])
        if info.state in _GAVE_UP_STATES:
            return f"{info.state.lower()}: {info.description}"
        if starts >= MAX_STARTS_WHILE_WAITING:
            return f"exited {starts - 1} times while starting"
        return None

    def overdue(self) -> dict[str, str]:
        return {
            name: f"not healthy after the deadline ({health.detail})"
            for name, health in self.pending.items()
        }
