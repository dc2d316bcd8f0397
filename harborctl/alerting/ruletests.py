"""``harborctl alerts test``: promtool unit tests of the rule templates, and a syntax check of
the operator's generated rules.

The unit tests (``tests/alerting/*.test.yml`` in the source checkout, and
``tests/alerting/demo/*.test.yml`` for the demo profile) are written against the default spec,
so the rules they test are rendered from the defaults, on their profile's time scale, into a
scratch dir beside copies of the tests; the rules generated from the operator's own spec are
checked with ``promtool check rules``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harborctl.alerting import tools
from harborctl.alerting.profiles import Profile
from harborctl.alerting.rules import render_rule_files
from harborctl.alerting_spec import AlertingSpec, SloSpec
from harborctl.errors import ConfigError
from harborctl.render import templates_dir


def default_tests_dir() -> Path:
    return templates_dir().parent / "tests" / "alerting"


def profile_tests_dir(tests_dir: Path, profile: Profile) -> Path:
    """Where a profile's unit tests live: ``tests_dir`` (normal), ``tests_dir/<profile>``."""
    return tests_dir if profile is Profile.normal else tests_dir / profile.value


@dataclass(frozen=True)
class RuleTestReport:
    passed: bool
    test_files: list[str]
    output: str
    profile: Profile = Profile.normal


def run_template_tests(
    promtool: str, tests_dir: Path | None = None, profile: Profile = Profile.normal
) -> RuleTestReport:
    """Render the default rules on ``profile``'s time scale next to copies of its unit tests
    (``profile_tests_dir``) and run promtool on them."""
    source = profile_tests_dir(tests_dir or default_tests_dir(), profile)
    test_files = sorted(source.glob("*.test.yml"))
    if not test_files:
        raise ConfigError("alerts test", f"no *.test.yml unit tests in {source}")
    with tempfile.TemporaryDirectory(prefix="harborhook-ruletests-") as directory:
        scratch = Path(directory)
        for name, text in render_rule_files(SloSpec(), AlertingSpec(), profile).items():
            (scratch / name).write_text(text)
        for test_file in test_files:
            shutil.copy(test_file, scratch / test_file.name)
        result = tools.run_rule_tests(promtool, [Path(t.name) for t in test_files], scratch)
    return RuleTestReport(result.ok, [t.name for t in test_files], result.output, profile)
