"""harborctl config: effective settings, where each comes from, secrets masked."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("HARBORHOOK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path))


def _settings(*args: str) -> dict[str, dict[str, object]]:
    result = CliRunner().invoke(app, ["config", "--json", *args])
    assert result.exit_code == 0, result.output
    return {row["setting"]: row for row in json.loads(result.stdout)["settings"]}


def test_each_value_names_its_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "harborhook.yaml").write_text("max_attempts: 4\nworker_max_in_flight: 7\n")
    monkeypatch.setenv("HARBORHOOK_WORKER_MAX_IN_FLIGHT", "9")
    rows = _settings()
    assert rows["max_attempts"]["value"] == 4
    assert rows["max_attempts"]["source"] == f"config file {tmp_path / 'harborhook.yaml'}"
    assert rows["worker_max_in_flight"] == {
        "setting": "worker_max_in_flight",
        "value": 9,
        "source": "environment",
    }
    assert rows["transport"]["source"] == "default"


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARBORHOOK_ADMIN_KEY", "very-secret")
    monkeypatch.setenv("HARBORHOOK_DATABASE_URL", "postgresql://hh:pa55@db.internal/hh")
    rows = _settings("admin_key", "database_url", "api_key")
    assert rows["admin_key"]["value"] == "****"
    assert rows["database_url"]["value"] == "postgresql://hh:****@db.internal/hh"
    assert rows["api_key"]["value"] is None
    result = CliRunner().invoke(app, ["config"])
    assert "very-secret" not in result.output and "pa55" not in result.output


def test_an_unknown_setting_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["config", "no_such_thing"])
    assert result.exit_code == 2
    assert "unknown setting(s): no_such_thing" in result.output
