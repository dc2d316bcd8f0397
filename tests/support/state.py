"""The state dir seen from a test: every file in it, to prove that a command changed nothing."""

from __future__ import annotations

from pathlib import Path


def snapshot(state_dir: Path) -> dict[str, bytes]:
    """Every file under the state dir, byte for byte (services' ``data`` dirs left out)."""
    return {
        str(path.relative_to(state_dir)): path.read_bytes()
        for path in sorted(state_dir.rglob("*"))
        if path.is_file() and "data" not in path.relative_to(state_dir).parts
    }
