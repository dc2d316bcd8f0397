"""Render Jinja templates from the repository's ``templates/`` directory; write files atomically.

Every generated file (supervisord, Prometheus, Alertmanager configs, dashboards, ...) goes
through here: ``render_template`` fails on any undefined variable (StrictUndefined) instead of
silently writing an empty string, and ``write_file`` never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import suppress
from functools import lru_cache
from pathlib import Path

import jinja2

import harborctl
from harborctl.errors import ConfigError


def templates_dir() -> Path:
    """The top-level ``templates/`` directory of the (editable) source checkout."""
    return Path(harborctl.__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=4)
def _environment(directory: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # config files, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_template(name: str, **context: object) -> str:
    """Render ``templates/<name>`` with ``context``; any template problem is a ConfigError."""
    directory = templates_dir()
    if not directory.is_dir():
        raise ConfigError(
            "templates",
            f"directory {directory} not found; install harborctl from its source checkout "
            "(pip install -e .) so the templates sit next to the package",
        )
    try:
        return _environment(directory).get_template(name).render(**context)
    except jinja2.TemplateNotFound as exc:
        raise ConfigError(f"template {name}", f"not found in {directory}") from exc
    except jinja2.TemplateError as exc:
        raise ConfigError(f"template {name}", str(exc)) from exc


def write_file(path: str | os.PathLike[str], text: str, mode: int = 0o644) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same dir, fsync, os.replace).

    The temp file is created 0600 and only gets ``mode`` once its content is complete, so a
    secret-bearing file is never readable by others, not even half-written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    return target
