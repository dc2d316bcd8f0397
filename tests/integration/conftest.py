"""Fixtures shared by the pipeline integration tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harborctl.receiver.server import running_receiver
from tests.support.pipeline import RECEIVER_SECRET, Pipeline, pipeline_env_for_nsq
from tests.support.services import PostgresServer

PIPELINES = [
    pytest.param("sqlite-db", id="sqlite-db"),
    pytest.param("postgres-nsq", id="postgres-nsq", marks=[pytest.mark.postgres]),
]


def _running_pipeline(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Pipeline]:
    """Real ingest and one worker: SQLite + the db transport, or PostgreSQL + real nsqd."""
    if request.param == "sqlite-db":
        made = Pipeline(workdir, f"sqlite:///{workdir}/hh.db", "db")
    else:
        nsqd = request.getfixturevalue("nsqd")
        server: PostgresServer = request.getfixturevalue("postgres_server")
        dbname = f"pipeline_{uuid.uuid4().hex[:16]}"
        server.create_database(dbname)
        request.addfinalizer(lambda: server.drop_database(dbname))
        made = Pipeline(
            workdir,
            server.url(dbname),
            "nsq",
            pipeline_env_for_nsq(nsqd.tcp_address, nsqd.lookupd.http_address),
        )
    try:
        made.start_ingest()
        made.start_worker()
        yield made
    finally:
        made.stop()


@pytest.fixture(params=PIPELINES)
def pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pipeline]:
    """A pipeline of the test's own (for tests that stop, kill or reconfigure its processes)."""
    yield from _running_pipeline(request, tmp_path)


@pytest.fixture(scope="module", params=PIPELINES)
def shared_pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """One pipeline for a module's tests that only talk to the API, each in a tenant of its
    own (a pipeline start costs seconds; dozens of bad-input cases need no fresh one)."""
    yield from _running_pipeline(request, tmp_path_factory.mktemp("shared-pipeline"))


@pytest.fixture
def receiver() -> Iterator[str]:
    """A local receiver verifying signatures with the secret every test endpoint uses."""
    with running_receiver(secret=RECEIVER_SECRET) as url:
        yield url
