"""`harborctl soak` refuses a load too short for its faults before starting anything."""

from __future__ import annotations

from typer.testing import CliRunner

from harborctl.cli.app import app


def test_a_load_too_short_for_one_round_of_faults_exits_2_in_one_line() -> None:
    result = CliRunner().invoke(app, ["soak", "--minutes", "0.5"])
    assert result.exit_code == 2, result.output
    assert "too short for one round of faults" in result.output
    assert "Traceback" not in result.output
