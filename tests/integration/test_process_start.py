"""A worker or ingest started while its database does not answer waits for it instead of
exiting; a SQLite file that cannot be opened is an error at once.

Found by the fault soak: workers that supervisord had just (re)started when PostgreSQL
restarted exited 1 at their start-up migration; a supervisor gives up on a program that
keeps dying at start, and the deliveries would then have no worker once the database was
back.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.pipeline import HarborProcess
from tests.support.services import PostgresServer, free_port
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow

WAITING = "database not answering at start"


PROCESSES = ["worker", "ingest"]


def _process(kind: str, tmp_path: Path, database_url: str, port: int) -> HarborProcess:
    """``harborctl run worker|ingest`` on ``database_url``, serving /healthz on ``port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBORHOOK_")}
    env.update(
        HARBORHOOK_STATE_DIR=str(tmp_path / "state"),
        HARBORHOOK_DATABASE_URL=database_url,
        HARBORHOOK_TRANSPORT="db",
        HARBORHOOK_LOG_TO_FILE="false",
    )
    argv = [sys.executable, "-m", "harborctl", "run", kind]
    if kind == "worker":
        argv += ["--metrics-port", str(port)]
    else:
        env["HARBORHOOK_INGEST_PORT"] = str(port)
    return HarborProcess(kind, argv, tmp_path / f"{kind}.log", env)


@pytest.fixture
def missing_database(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """(URL of a database that does not exist yet, its name); dropped afterwards."""
    name = f"later_{uuid.uuid4().hex[:12]}"
    try:
        yield postgres_server.url(name), name
    finally:
        postgres_server.drop_database(name)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("kind", PROCESSES)
def test_a_process_waits_for_its_database_then_serves(
    tmp_path: Path, postgres_server: PostgresServer, missing_database: tuple[str, str], kind: str
) -> None:
    url, name = missing_database
    port = free_port()
    process = _process(kind, tmp_path, url, port)
    process.start()
    try:
        log = tmp_path / f"{kind}.log"
        wait_until(lambda: log.read_text().count(WAITING) >= 2, 30, describe="two retries")
        assert process.running, process.log_tail()
        assert not _healthy(port)

        postgres_server.create_database(name)  # the database answers from now on
        wait_until(lambda: _healthy(port), 30, describe=f"the {kind} serving /healthz")
        assert process.signal_and_wait(signal.SIGTERM, 40) == 0, process.log_tail()
    finally:
        process.kill()


@pytest.mark.parametrize("kind", PROCESSES)
def test_a_process_waiting_for_its_database_stops_on_sigterm(tmp_path: Path, kind: str) -> None:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/harborhook"
    process = _process(kind, tmp_path, nowhere, free_port())
    process.start()
    try:
        log = tmp_path / f"{kind}.log"
        wait_until(lambda: WAITING in log.read_text(), 30, describe=f"the {kind} waiting")
        assert process.signal_and_wait(signal.SIGTERM, 15) == 0, process.log_tail()
    finally:
        process.kill()


@pytest.mark.parametrize("kind", PROCESSES)
def test_a_sqlite_file_that_cannot_be_opened_fails_at_once(tmp_path: Path, kind: str) -> None:
    """Nothing to wait out: the path is wrong (an OperationalError, like a server that does
    not answer), so the process exits non-zero instead of retrying for ever."""
    (tmp_path / "a-directory").mkdir()
    url = f"sqlite:///{tmp_path}/a-directory"  # sqlite cannot open a directory as its file
    process = _process(kind, tmp_path, url, free_port())
    process.start()
    try:
        wait_until(lambda: not process.running, 30, describe=f"the {kind} exiting")
        assert process.returncode not in (None, 0), process.log_tail()
        assert WAITING not in process.log_tail()
    finally:
        process.kill()
