"""`harborctl run migrate`: the schema at the newest revision, on SQLite and PostgreSQL, and
a second run changes nothing (the compose stack runs it once before ingest and workers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from harborctl.cli.app import app
from harborctl.store.database import make_engine

runner = CliRunner()


def test_migrate_brings_the_schema_to_head_once(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARBORHOOK_CONFIG", raising=False)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARBORHOOK_DATABASE_URL", database_url)

    first = runner.invoke(app, ["run", "migrate"])
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            revision = conn.execute(text("select version_num from alembic_version")).scalar_one()
        second = runner.invoke(app, ["run", "migrate"])
        with engine.connect() as conn:
            revisions = conn.execute(text("select version_num from alembic_version")).all()
    finally:
        engine.dispose()

    assert first.exit_code == 0, first.output
    assert "database migrated" in first.output
    assert {"tenants", "endpoints", "subscriptions", "events", "deliveries"} <= tables
    assert second.exit_code == 0, second.output
    assert [row[0] for row in revisions] == [revision]


def test_migrate_names_a_database_it_cannot_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HARBORHOOK_DATABASE_URL", "mysql://db/harborhook")

    result = runner.invoke(app, ["run", "migrate"])

    assert result.exit_code == 2
    assert "database_url" in result.output
    assert "Traceback" not in result.output
