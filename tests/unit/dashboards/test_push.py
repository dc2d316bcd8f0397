"""`harborctl dashboards push` against a stand-in answering as Grafana's HTTP API documentation
shows (Grafana itself cannot be installed here), as strict as Grafana about auth, uids,
folders and versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app
from harborctl.dashboards.grafana import GrafanaClient
from harborctl.dashboards.inputs import DASHBOARDS
from harborctl.errors import Conflict, ServiceError, Unauthorized
from tests.support.fake_grafana import FakeGrafana, running_fake_grafana

runner = CliRunner()
UIDS = [d.uid for d in DASHBOARDS]


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("HARBORHOOK_CONFIG", raising=False)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana(tokens={"admin-token": "Admin", "viewer-token": "Viewer"})
    with running_fake_grafana(fake) as running:
        yield running


def token_file(directory: Path, token: str = "admin-token") -> Path:
    path = directory / "grafana.token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


def push(url: str, token: Path, *extra: str) -> Any:
    return runner.invoke(
        app, ["dashboards", "push", "--grafana-url", url, "--token-file", str(token), *extra]
    )


def actions(output: str) -> dict[str, str]:
    return {c["uid"]: c["action"] for c in json.loads(output)["changes"]}


def test_first_push_creates_the_folder_and_every_dashboard(
    state_dir: Path, grafana: tuple[FakeGrafana, str]
) -> None:
    fake, url = grafana
    result = push(url, token_file(state_dir), "--json")
    assert result.exit_code == 0, result.output
    assert actions(result.output) == {"harborhook": "created", **dict.fromkeys(UIDS, "created")}
    assert set(fake.folders) == {"harborhook"}
    assert fake.folders["harborhook"]["title"] == "HarborHook"
    assert set(fake.dashboards) == set(UIDS)
    assert {d["folderUid"] for d in fake.dashboards.values()} == {"harborhook"}
    # every request carried the token
    assert fake.requests
    assert {auth for _, _, auth in fake.requests} == {"Bearer admin-token"}
    committed = Path("deploy/docker/grafana/dashboards/harborhook-overview.json")
    saved = fake.dashboards["harborhook-overview"]["dashboard"]
    assert saved["panels"] == json.loads(committed.read_text())["panels"]


def test_pushing_again_changes_nothing_and_overwrites_an_edited_dashboard(
    state_dir: Path, grafana: tuple[FakeGrafana, str]
) -> None:
    fake, url = grafana
    token = token_file(state_dir)
    assert push(url, token).exit_code == 0
    fake.requests.clear()
    again = push(url, token, "--json")
    assert again.exit_code == 0, again.output
    assert set(actions(again.output).values()) == {"unchanged"}
    assert [r for r in fake.requests if r[0] == "POST"] == []  # folder created once

    # someone edits a dashboard in Grafana's UI: its version moves on
    edited = fake.dashboards["harborhook-slo"]["dashboard"]
    edited.update(title="SLO (edited by hand)", version=edited["version"] + 3)
    third = push(url, token, "--json")
    assert third.exit_code == 0, third.output
    assert actions(third.output)["harborhook-slo"] == "updated"
    restored = fake.dashboards["harborhook-slo"]["dashboard"]
    assert restored["title"] == "HarborHook / SLO and error budget"
    assert restored["version"] == edited["version"] + 1
    assert len(fake.folders) == 1


def test_a_renamed_folder_gets_its_title_back(
    state_dir: Path, grafana: tuple[FakeGrafana, str]
) -> None:
    fake, url = grafana
    token = token_file(state_dir)
    assert push(url, token).exit_code == 0
    fake.folders["harborhook"].update(title="Renamed", version=4)
    result = push(url, token, "--json")
    assert actions(result.output)["harborhook"] == "updated"
    assert fake.folders["harborhook"]["title"] == "HarborHook"


def test_the_human_report_lists_what_changed(
    state_dir: Path, grafana: tuple[FakeGrafana, str]
) -> None:
    _, url = grafana
    result = push(url, token_file(state_dir))
    assert result.exit_code == 0, result.output
    for uid in ["harborhook", *UIDS]:
        assert uid in result.output
    assert "created" in result.output


@pytest.mark.parametrize(
    ("token", "status", "exit_code"), [("wrong-token", "401", 3), ("viewer-token", "403", 3)]
)
def test_a_refused_token_is_one_line_and_exit_3(
    state_dir: Path, grafana: tuple[FakeGrafana, str], token: str, status: str, exit_code: int
) -> None:
    fake, url = grafana
    result = push(url, token_file(state_dir, token))
    assert result.exit_code == exit_code
    [line] = result.output.strip().splitlines()
    assert f"HTTP {status}" in line and "Grafana refused" in line
    assert fake.dashboards == {}


def test_a_missing_or_empty_token_file_and_an_unreachable_grafana(
    state_dir: Path, grafana: tuple[FakeGrafana, str]
) -> None:
    _, url = grafana
    missing = push(url, state_dir / "nope")
    assert missing.exit_code == 2
    assert "cannot read" in missing.output
    empty = state_dir / "empty"
    empty.write_text("\n")
    assert push(url, empty).exit_code == 2
    down = push("http://127.0.0.1:9", token_file(state_dir))
    assert down.exit_code == 1
    assert len(down.output.strip().splitlines()) == 1
    assert "unreachable" in down.output


def test_the_stand_in_is_as_strict_as_grafana(grafana: tuple[FakeGrafana, str]) -> None:
    """What our client gets from a Grafana that refuses: the errors are the project's."""
    fake, url = grafana
    dashboard = {"uid": "harborhook-x", "title": "X", "panels": [], "version": 1}
    with GrafanaClient(url, "admin-token") as client:
        with pytest.raises(ServiceError, match=r"HTTP 400.*invalid uid for folder"):
            client.create_folder("general", "Mine")
        with pytest.raises(ServiceError, match=r"HTTP 400.*illegal characters"):
            client.create_folder("a/b", "Mine")
        with pytest.raises(ServiceError, match=r"HTTP 400.*too long"):
            client.create_folder("x" * 41, "Mine")
        client.create_folder("mine", "Mine")
        with pytest.raises(Conflict, match=r"HTTP 409"):
            client.create_folder("mine", "Mine")
        with pytest.raises(ServiceError, match=r"HTTP 400.*folder not found"):
            client.save_dashboard(dashboard, "no-such-folder")
        with pytest.raises(ServiceError, match=r"HTTP 400.*title cannot be empty"):
            client.save_dashboard({**dashboard, "title": " "}, "mine")
        first = client.save_dashboard(dashboard, "mine", overwrite=False)
        assert first["version"] == 2
        with pytest.raises(Conflict, match=r"HTTP 412.*changed by someone else"):
            client.save_dashboard({**dashboard, "version": 7}, "mine", overwrite=False)
        assert client.save_dashboard({**dashboard, "version": 7}, "mine")["version"] == 3
        with pytest.raises(Conflict, match=r"HTTP 412.*same name"):
            client.save_dashboard({**dashboard, "uid": "other"}, "mine", overwrite=False)
    with GrafanaClient(url, "viewer-token") as viewer, pytest.raises(Unauthorized):
        viewer.create_folder("theirs", "Theirs")
    assert fake.dashboards["harborhook-x"]["dashboard"]["version"] == 3
