"""The bench's receiver: a separate process answering every POST with 200 and recording when
each delivery first arrived.

Cheap on purpose (aiohttp.web, no signature check, nothing written to disk): its CPU is
reported apart from the stack's, and the less it needs the less it takes from the machine
the stack runs on. Arrival times are ``time.monotonic()`` (CLOCK_MONOTONIC, one clock for
every process of a Linux machine), so the bench compares them with its own send times.

Paths: ``/<group>/<rest>``. A POST carrying ``webhook-id`` is one delivery of that event to
the endpoint at that path; the first arrival of each (path, webhook-id) is kept and later
ones are counted as duplicates. POSTs without it (``nsq_to_http``) are counted per group.

Inspection::

    GET /_stats?group=hh       {"posts", "distinct", "duplicates", "first", "last"}
    GET /_arrivals?group=hh    {"arrivals": [[path, webhook_id, monotonic seconds], ...]}
    GET /healthz               {"status": "ok"}

Run it with ``python -m harborctl.bench.sink --port N`` (``SinkProcess`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from aiohttp import web

from harborctl.childproc import start_server_child, stop_child
from harborctl.errors import HarborHookError

WEBHOOK_ID = "webhook-id"
START_TIMEOUT = 15.0


@dataclass
class _Group:
    posts: int = 0
    duplicates: int = 0
    first: float | None = None
    last: float | None = None
    arrivals: dict[tuple[str, str], float] = field(default_factory=dict)


GROUPS = web.AppKey("sink_groups", dict)


def _group_of(path: str) -> str:
    return path.lstrip("/").partition("/")[0]


async def _post(request: web.Request) -> web.Response:
    now = time.monotonic()
    await request.read()
    groups: dict[str, _Group] = request.app[GROUPS]
    group = groups.get(_group_of(request.path))
    if group is None:
        group = groups[_group_of(request.path)] = _Group()
    group.posts += 1
    if group.first is None:
        group.first = now
    group.last = now
    webhook_id = request.headers.get(WEBHOOK_ID)
    if webhook_id is not None:
        key = (request.path, webhook_id)
        if key in group.arrivals:
            group.duplicates += 1
        else:
            group.arrivals[key] = now
    return web.Response(status=200)


def _group(request: web.Request) -> _Group:
    groups: dict[str, _Group] = request.app[GROUPS]
    return groups.get(request.query.get("group", ""), _Group())


async def _stats(request: web.Request) -> web.Response:
    group = _group(request)
    distinct = len(group.arrivals) if group.arrivals else group.posts - group.duplicates
    return web.json_response(
        {
            "posts": group.posts,
            "distinct": distinct,
            "duplicates": group.duplicates,
            "first": group.first,
            "last": group.last,
        }
    )


async def _arrivals(request: web.Request) -> web.Response:
    group = _group(request)
    rows = [[path, webhook_id, at] for (path, webhook_id), at in group.arrivals.items()]
    return web.json_response({"arrivals": rows})


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[GROUPS] = {}
    app.router.add_get("/_stats", _stats)
    app.router.add_get("/_arrivals", _arrivals)
    app.router.add_get("/healthz", _healthz)
    app.router.add_post("/{tail:.*}", _post)
    return app


async def _serve(host: str, port: int) -> None:
    runner = web.AppRunner(create_app(), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The bench's receiver (see its module).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))


# --------------------------------------------------------------------------- the bench's side


@dataclass(frozen=True)
class GroupStats:
    posts: int
    distinct: int
    duplicates: int
    first: float | None
    last: float | None


class SinkProcess:
    """The receiver as a child process: ``with SinkProcess(port, log) as sink: sink.url``.

    Raises HarborHookError when it does not answer within 15 s (with its output).
    """

    def __init__(self, port: int, log_file: Path, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port
        self.log_file = log_file
        self.url = f"http://{host}:{port}"
        self._process: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(base_url=self.url, timeout=30.0, trust_env=False)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        command = [sys.executable, "-m", "harborctl.bench.sink", "--host", self.host]
        self._process = start_server_child(
            [*command, "--port", str(self.port)],
            f"{self.url}/healthz",
            self.log_file,
            what=f"the bench receiver on port {self.port}",
            timeout=START_TIMEOUT,
        )

    def stats(self, group: str) -> GroupStats:
        data = self._get("/_stats", group)
        return GroupStats(
            posts=int(data["posts"]),
            distinct=int(data["distinct"]),
            duplicates=int(data["duplicates"]),
            first=data["first"],
            last=data["last"],
        )

    def arrivals(self, group: str) -> dict[tuple[str, str], float]:
        """(path, webhook-id) → first arrival (monotonic seconds)."""
        rows = self._get("/_arrivals", group)["arrivals"]
        return {(str(path), str(wid)): float(at) for path, wid, at in rows}

    def _get(self, path: str, group: str) -> dict[str, Any]:
        try:
            response = self._http.get(path, params={"group": group})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise HarborHookError(f"the bench receiver did not answer {path}: {exc}") from exc
        data: dict[str, Any] = response.json()
        return data

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_child(process)
        self._http.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    main()
