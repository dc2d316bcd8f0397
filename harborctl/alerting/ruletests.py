"""``harborctl alerts test``: promtool unit tests of the rule templates, and a syntax check of
the operator's generated rules.

The unit tests (``tests/alerting/*.test.yml`` in the source checkout) are written against the
default spec, so the rules they test are rendered from the defaults into a scratch dir beside
copies of the tests; the rules generated from the operator's own spec are checked with
``promtool check rules``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harborctl.alerting import tools
from harborctl.alerting.rules import render_rule_files
from harborctl.alerting_spec import AlertingSpec, SloSpec
from harborctl.errors import ConfigError
from harborctl.render import templates_dir


def default_tests_dir() -> Path:
    return templates_dir().parent / "tests" / "alerting"


@dataclass(frozen=True)
class RuleTestReport:
    passed: bool
    test_files: list[str]
    output: str


def run_template_tests(promtool: str, tests_dir: Path | None = None) -> RuleTestReport:
    """Render the default rules next to copies of the unit tests and run promtool on them."""
    source = tests_dir or default_tests_dir()
    test_files = sorted(source.glob("*.test.yml"))
    if not test_files:
        raise ConfigError("alerts test", f"no *.test.yml unit tests in {source}")
    with tempfile.TemporaryDirectory(prefix="harborhook-ruletests-") as directory:
        scratch = Path(directory)
        for name, text in render_rule_files(SloSpec(), AlertingSpec()).items():
            (scratch / name).write_text(text)
        for test_file in test_files:
            shutil.copy(test_file, scratch / test_file.name)
        result = tools.run_rule_tests(promtool, [Path(t.name) for t in test_files], scratch)
    return RuleTestReport(result.ok, [t.name for t in test_files], result.output)
