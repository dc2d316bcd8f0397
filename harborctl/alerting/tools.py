"""The adapter for Prometheus' and Alertmanager's command-line checkers (promtool, amtool).

Each call answers a ``ToolResult``; a missing binary is ``None`` from ``find``, and only a
checker that ran and rejected its input is an error (``ConfigError`` with its output).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harborctl.errors import ConfigError

TIMEOUT = 120.0
_OUTPUT_LINES = 20


@dataclass(frozen=True)
class ToolResult:
    ok: bool
    output: str


def find(name: str) -> str | None:
    """Path of ``promtool`` / ``amtool`` on PATH, or None."""
    return shutil.which(name)


def _run(argv: list[str], cwd: Path | None = None) -> ToolResult:
    try:
        done = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(argv[0], f"could not run: {exc}") from exc
    return ToolResult(done.returncode == 0, (done.stdout + done.stderr).strip())


def _first_problem(output: str) -> str:
    """The checker's most telling line (amtool/promtool put the error after 'FAILED')."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "FAILED" in line or "error" in line.lower():
            return line
    return lines[0] if lines else "rejected without output"


def check_alertmanager_config(amtool: str, path: Path) -> None:
    """``amtool check-config``; ConfigError naming the first problem when it fails."""
    result = _run([amtool, "check-config", str(path)])
    if not result.ok:
        raise ConfigError(
            "alertmanager.yml", f"amtool check-config: {_first_problem(result.output)}"
        )


def check_rules(promtool: str, paths: list[Path]) -> None:
    """``promtool check rules``; ConfigError naming the first problem when it fails."""
    result = _run([promtool, "check", "rules", *map(str, paths)])
    if not result.ok:
        raise ConfigError("rule files", f"promtool check rules: {_first_problem(result.output)}")


def check_prometheus_config(promtool: str, path: Path) -> None:
    """``promtool check config`` (the rule files it loads included); ConfigError naming the
    first problem when it fails."""
    result = _run([promtool, "check", "config", str(path)])
    if not result.ok:
        raise ConfigError(
            "prometheus.yml", f"promtool check config: {_first_problem(result.output)}"
        )


def run_rule_tests(promtool: str, test_files: list[Path], cwd: Path) -> ToolResult:
    """``promtool test rules``: the result, passed or not, with promtool's report."""
    return _run([promtool, "test", "rules", *map(str, test_files)], cwd=cwd)


@lru_cache(maxsize=4)
def webhook_url_file_supported(amtool: str) -> bool:
    """Whether this Alertmanager knows ``webhook_configs[].url_file`` (0.26 and later)."""
    probe = (
        "route: {receiver: r}\n"
        "receivers:\n  - name: r\n    webhook_configs: [{url_file: /nonexistent}]\n"
    )
    with tempfile.TemporaryDirectory(prefix="harborhook-amprobe-") as directory:
        path = Path(directory) / "probe.yml"
        path.write_text(probe)
        return _run([amtool, "check-config", str(path)]).ok
