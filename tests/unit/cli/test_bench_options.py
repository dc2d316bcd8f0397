"""`harborctl bench` refuses option combinations that cannot mean anything (exit 2, one line)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--workers", "2"], "shape the stack of --start"),
        (["--database", "postgres"], "shape the stack of --start"),
        (["--no-observability"], "shape the stack of --start"),
        (["--start", "--nsqd-nodes", "2"], "--nsqd-nodes needs --transport nsq"),
        (
            ["--compare-nsq-to-http", "--receiver-url", "http://127.0.0.1:1/x"],
            "needs the built-in receiver",
        ),
    ],
)
def test_meaningless_combinations_are_refused(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 2
    assert says in result.output
