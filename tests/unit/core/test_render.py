"""Rendering: the generic Jinja helper and the atomic file writer (``harborctl.render``)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harborctl.errors import ConfigError
from harborctl.render import render_template, templates_dir, write_file


def test_templates_dir_is_the_repository_templates_folder() -> None:
    assert (templates_dir() / "supervisord.conf.j2").is_file()


def test_render_template_is_strict_about_undefined_variables() -> None:
    with pytest.raises(ConfigError, match=r"supervisord\.conf\.j2"):
        render_template("supervisord.conf.j2", programs=[])


def test_render_template_names_a_missing_template() -> None:
    with pytest.raises(ConfigError, match=r"no-such\.j2"):
        render_template("no-such.j2")


def test_write_file_is_atomic_and_sets_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "dir" / "file.conf"
    write_file(target, "one\n", mode=0o600)
    assert target.read_text() == "one\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    write_file(target, "two\n")
    assert target.read_text() == "two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert [p.name for p in target.parent.iterdir()] == ["file.conf"]  # no temp file left
