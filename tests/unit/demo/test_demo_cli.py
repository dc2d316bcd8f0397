"""`harborctl demo`'s command line around a stand-in run: options, exit codes, the check table
and --json (the real run: tests/integration/test_demo.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app
from harborctl.demo import checks
from harborctl.demo.model import DemoOptions, DemoResult

runner = CliRunner()


def _passing() -> DemoResult:
    result = DemoResult(tenant_id="ten_demo", transport="nsq")
    for name in checks.CHECK_NAMES:
        result.checked[name] = checks.Check(name, True, f"{name} fine")
    result.timings["total"] = 123.4
    return result


class FakeRun:
    """Stands in for DemoRun: answers ``outcome`` (or raises KeyboardInterrupt)."""

    seen: ClassVar[list[DemoOptions]] = []
    outcome: ClassVar[DemoResult | None] = None

    def __init__(self, options: DemoOptions, observer: Any, sources: Any) -> None:
        FakeRun.seen.append(options)
        self.result = DemoResult()
        self.result.checked[checks.RESTORED] = checks.Check(checks.RESTORED, True, "as before")

    def preflight(self) -> None:
        if "nobody" in FakeRun.seen[-1].notify:
            from harborctl.errors import ConfigError

            raise ConfigError("--notify", "no receiver named 'nobody'")

    def run(self) -> DemoResult:
        if FakeRun.outcome is None:
            self.result.interrupted = True
            raise KeyboardInterrupt
        return FakeRun.outcome


@pytest.fixture(autouse=True)
def fake_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("harborctl.demo.run.DemoRun", FakeRun)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path))
    FakeRun.seen = []
    FakeRun.outcome = _passing()


def test_every_check_passed_exits_0_with_the_table() -> None:
    result = runner.invoke(app, ["demo", "--duration", "20", "--notify", "slack,email"])
    assert result.exit_code == 0, result.output
    assert "every check passed in 2m03s" in result.stdout
    for name in checks.CHECK_NAMES:
        assert name in result.stdout
    [options] = FakeRun.seen
    assert (options.duration, options.notify, options.stack.nsq) == (20.0, ("slack", "email"), True)


def test_json_passes_the_result_through() -> None:
    result = runner.invoke(app, ["demo", "--json", "--no-nsq", "--nsqd-tcp-port", "14150"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["failed"] == []
    assert [c["name"] for c in data["checks"]] == list(checks.CHECK_NAMES)
    assert data["duration_seconds"] == 123.4
    [options] = FakeRun.seen
    assert (options.stack.nsq, options.stack.nsqd_tcp_port) == (False, 14150)


def test_a_failed_check_exits_1_naming_it() -> None:
    failing = _passing()
    failing.checked[checks.LOGS] = checks.Check(checks.LOGS, False, "2 lines without trace id")
    FakeRun.outcome = failing
    result = runner.invoke(app, ["demo", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["failed"] == [checks.LOGS]
    assert "failed checks: logs" in result.stderr


def test_interrupted_exits_130_after_the_report() -> None:
    FakeRun.outcome = None
    result = runner.invoke(app, ["demo", "--json"])
    assert result.exit_code == 130
    data = json.loads(result.stdout)
    assert data["interrupted"] is True
    assert [c["name"] for c in data["checks"] if c["checked"]] == [checks.RESTORED]
    assert "demo interrupted" in result.stderr and "not run: metrics" in result.stderr


@pytest.mark.parametrize("value", ["all,slack", ",", " "])
def test_bad_notify_is_exit_2(value: str) -> None:
    result = runner.invoke(app, ["demo", "--notify", value])
    assert result.exit_code == 2
    assert "--notify" in result.stderr
    assert FakeRun.seen == []


def test_a_preflight_problem_is_one_line_and_runs_nothing() -> None:
    result = runner.invoke(app, ["demo", "--notify", "nobody"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --notify: no receiver named 'nobody'"
    assert result.stdout == ""
