"""Whether the compose stack is an option here: its file in the checkout, a Docker engine."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import harborctl


def repo_root() -> Path:
    return Path(harborctl.__file__).resolve().parent.parent


def compose_file() -> Path:
    return repo_root() / "deploy" / "docker" / "docker-compose.yml"


def docker_engine_reachable(timeout: float = 5.0) -> bool:
    """True when ``docker info`` reaches an engine (fails fast when there is none)."""
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())
