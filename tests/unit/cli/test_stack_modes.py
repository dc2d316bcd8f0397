"""harborctl up/down/status --mode, and down --volumes, where no Docker engine answers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app
from harborctl.cli.stack import Mode, resolve_mode
from harborctl.layout import StateLayout
from harborctl.stack import compose


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("HARBORHOOK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path / "state"))


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_auto_is_compose_only_when_an_engine_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compose, "docker_engine_reachable", lambda: False)
    assert resolve_mode(Mode.auto) is Mode.native
    monkeypatch.setattr(compose, "docker_engine_reachable", lambda: True)
    assert resolve_mode(Mode.auto) is Mode.compose
    assert resolve_mode(Mode.auto, native_running=True) is Mode.native  # down/status: that one
    assert resolve_mode(Mode.native) is Mode.native
    assert resolve_mode(Mode.compose, native_running=True) is Mode.compose


def test_auto_picks_native_on_this_machine() -> None:
    """No Docker engine answers here: auto must not try compose."""
    if compose.docker_engine_reachable():
        pytest.skip("a Docker engine answers here")
    assert resolve_mode(Mode.auto) is Mode.native
    code, out, _ = _invoke("status")  # native, nothing running
    assert code == 3 and "not running" in out


@pytest.mark.parametrize(
    "args",
    [("up", "--mode", "compose"), ("status", "--mode", "compose"), ("down", "--mode", "compose")],
)
def test_compose_without_an_engine_fails_in_one_line(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(compose, "docker_engine_reachable", lambda: False)
    code, out, err = _invoke(*args)
    assert code == 69, (out, err)
    assert err.strip().splitlines() == [
        "error: no Docker engine answers (`docker info` failed): start Docker, or run "
        "`harborctl up --mode native`"
    ]
    assert not (tmp_path / "state" / "compose").exists()  # no overlay written


def _data(layout: StateLayout) -> list[Path]:
    """A stopped stack's state dir: data, and what is not data."""
    files = [
        layout.sqlite_file,
        layout.nsqd_data_dir / "harborhook.deliveries.diskqueue.meta.dat",
        layout.prometheus_data_dir / "wal" / "00000000",
        layout.alertmanager_data_dir / "nflog",
        layout.spans_file,
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    return files


def _kept(layout: StateLayout) -> list[Path]:
    files = [
        layout.config_file,
        layout.admin_key_file,
        layout.receivers_file,
        layout.prometheus_config,
        layout.process_log("ingest"),
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("max_attempts: 4\n" if path == layout.config_file else "x")
    return files


def test_native_down_volumes_refuses_without_yes_when_nobody_can_be_asked(
    tmp_path: Path,
) -> None:
    layout = StateLayout.at(tmp_path / "state")
    data = _data(layout)

    code, _, err = _invoke("down", "--mode", "native", "--volumes")

    assert code == 2
    assert "add --yes" in err and len(err.strip().splitlines()) == 1
    assert all(path.exists() for path in data)


def test_native_down_volumes_yes_deletes_the_data_and_keeps_the_rest(tmp_path: Path) -> None:
    layout = StateLayout.at(tmp_path / "state")
    data, kept = _data(layout), _kept(layout)

    code, out, err = _invoke("down", "--mode", "native", "--volumes", "--yes", "--json")

    assert code == 0, err
    result = json.loads(out)
    assert result["was_running"] is False
    assert not any(path.exists() for path in data)
    assert all(path.exists() for path in kept)
    assert set(result["removed"]) == {
        str(layout.sqlite_file),
        str(layout.nsqd_data_dir),
        str(layout.prometheus_data_dir),
        str(layout.alertmanager_data_dir),
        str(layout.spans_file.parent),
    }
    again = _invoke("down", "--mode", "native", "--volumes", "--yes")
    assert again[0] == 0 and "no stack data to delete" in again[1]
