"""Fixtures shared by the pipeline integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harborctl.receiver.server import running_receiver
from tests.support.pipeline import RECEIVER_SECRET, Pipeline, pipeline_env_for_nsq


@pytest.fixture(
    params=[
        pytest.param("sqlite-db", id="sqlite-db"),
        pytest.param("postgres-nsq", id="postgres-nsq", marks=[pytest.mark.postgres]),
    ]
)
def pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pipeline]:
    """Real ingest and one worker: SQLite + the db transport, or PostgreSQL + real nsqd."""
    if request.param == "sqlite-db":
        made = Pipeline(tmp_path, f"sqlite:///{tmp_path}/hh.db", "db")
    else:
        nsqd = request.getfixturevalue("nsqd")
        url = request.getfixturevalue("postgres_url")
        made = Pipeline(
            tmp_path, url, "nsq", pipeline_env_for_nsq(nsqd.tcp_address, nsqd.lookupd.http_address)
        )
    try:
        made.start_ingest()
        made.start_worker()
        yield made
    finally:
        made.stop()


@pytest.fixture
def receiver() -> Iterator[str]:
    """A local receiver verifying signatures with the secret every test endpoint uses."""
    with running_receiver(secret=RECEIVER_SECRET) as url:
        yield url
