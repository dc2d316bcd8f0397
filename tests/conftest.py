"""Session-wide fixtures that start real services on 127.0.0.1.

- ``nsqlookupd``, ``nsqd``: one of each for the session; ``nsqd_factory`` starts extra nsqd
  nodes (same lookupd) that are stopped when the test ends.
- ``postgres_server``: a throwaway cluster for the session; ``postgres_url`` a fresh
  database per test, dropped afterwards.
- ``sqlite_url``: a database file in the test's tmp_path.
- ``database_url``: parametrized over sqlite and postgres.

A missing binary skips the test locally and fails it under CI (env CI set). Tests using
these fixtures are marked ``nsq`` / ``postgres`` automatically, so ``-m "not postgres"``
works.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# `pytest` (unlike `python -m pytest`) does not put the repo root on sys.path.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from tests.support.services import (  # noqa: E402
    NSQ_INSTALL_HINT,
    Nsqd,
    NsqdFactory,
    NsqLookupd,
    PostgresServer,
    install_sigterm_handler,
    postgres_bin_dir,
    postgres_os_user,
    postgres_workdir,
    require_binary,
)

NSQ_FIXTURES = {"nsqlookupd", "nsqd", "nsqd_factory"}
POSTGRES_FIXTURES = {"postgres_server", "postgres_url"}


def pytest_configure(config: pytest.Config) -> None:
    install_sigterm_handler()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & NSQ_FIXTURES:
            item.add_marker(pytest.mark.nsq)
        if fixtures & POSTGRES_FIXTURES:
            item.add_marker(pytest.mark.postgres)


# --- NSQ ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def nsqlookupd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NsqLookupd]:
    binary = require_binary("nsqlookupd", NSQ_INSTALL_HINT)
    service = NsqLookupd(binary, tmp_path_factory.mktemp("nsqlookupd"))
    try:
        service.start()
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def nsqd(tmp_path_factory: pytest.TempPathFactory, nsqlookupd: NsqLookupd) -> Iterator[Nsqd]:
    binary = require_binary("nsqd", NSQ_INSTALL_HINT)
    node = Nsqd(binary, tmp_path_factory.mktemp("nsqd"), lookupd=nsqlookupd)
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture
def nsqd_factory(
    tmp_path_factory: pytest.TempPathFactory, nsqlookupd: NsqLookupd
) -> Iterator[NsqdFactory]:
    binary = require_binary("nsqd", NSQ_INSTALL_HINT)
    factory = NsqdFactory(binary, nsqlookupd, lambda: tmp_path_factory.mktemp("nsqd-extra"))
    try:
        yield factory
    finally:
        factory.stop_all()


# --- databases ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin_dir()
    os_user = postgres_os_user()
    with postgres_workdir(os_user) as workdir:
        server = PostgresServer(bin_dir, workdir, os_user)
        try:
            server.start()
            yield server
        finally:
            server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    dbname = f"test_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(dbname)
    try:
        yield postgres_server.url(dbname)
    finally:
        postgres_server.drop_database(dbname)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/harborhook.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url
