"""What a demo run changed, and how to put it back.

``Changes`` is a stack of undo steps, run in reverse order by ``undo_all`` whatever happens
(an error, Ctrl-C): each step runs even when an earlier one failed, and its failure becomes a
note instead of stopping the others. ``FileSnapshot`` keeps files' exact bytes (or that they
did not exist) to put them back and to tell which ones differ.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from harborctl.render import write_file


@dataclass
class FileSnapshot:
    """The bytes (and mode) of files as they were, None for a file that did not exist."""

    files: dict[Path, tuple[bytes, int] | None] = field(default_factory=dict)
    absent_dirs: list[Path] = field(default_factory=list)  # to remove again when left empty

    @classmethod
    def take(cls, paths: Sequence[Path], dirs: Sequence[Path] = ()) -> FileSnapshot:
        """The files ``paths`` as they are, and which of ``dirs`` do not exist yet."""
        files: dict[Path, tuple[bytes, int] | None] = {}
        for path in paths:
            try:
                files[path] = (path.read_bytes(), path.stat().st_mode & 0o777)
            except FileNotFoundError:
                files[path] = None
        return cls(files, [d for d in dirs if not d.exists()])

    def differences(self) -> list[Path]:
        """The files whose bytes (or existence) are not what they were, and the directories
        that exist now and did not."""
        changed = [d for d in self.absent_dirs if d.exists()]
        for path, before in self.files.items():
            try:
                now: bytes | None = path.read_bytes()
            except FileNotFoundError:
                now = None
            if now != (before[0] if before else None):
                changed.append(path)
        return changed

    def restore(self, paths: Sequence[Path] | None = None) -> list[Path]:
        """Put back the files that differ (of ``paths``, default all) and remove the
        directories of ``paths`` that did not exist, when empty; what was put back."""
        restored = []
        for path in self.differences():
            if (paths is not None and path not in paths) or path in self.absent_dirs:
                continue
            before = self.files[path]
            if before is None:
                path.unlink(missing_ok=True)
            else:
                content, mode = before
                write_file(path, content.decode("utf-8"), mode=mode)
            restored.append(path)
        for directory in sorted(self.absent_dirs, key=lambda d: len(d.parts), reverse=True):
            if paths is not None and directory not in paths:
                continue
            with suppress(OSError):  # only when empty: something else may live there now
                directory.rmdir()
                restored.append(directory)
        return restored


@dataclass
class Undo:
    name: str
    step: Callable[[], None]


class Changes:
    """Undo steps, last first."""

    def __init__(self) -> None:
        self.steps: list[Undo] = []

    def add(self, name: str, step: Callable[[], None]) -> None:
        self.steps.append(Undo(name, step))

    def undo_all(self, report: Callable[[str, BaseException | None], None]) -> None:
        """Run every step, last first; ``report(name, error)`` after each (error None: ok)."""
        while self.steps:
            undo = self.steps.pop()
            try:
                undo.step()
            except Exception as exc:  # one failed step must not keep the others from running
                report(undo.name, exc)
            else:
                report(undo.name, None)


@contextmanager
def interrupts_deferred(on_interrupt: Callable[[], None]) -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) and SIGTERM only call ``on_interrupt``: putting
    things back is not itself interrupted. Outside the main thread, nothing changes."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        on_interrupt()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interrupt_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM raise KeyboardInterrupt like Ctrl-C (so a script stopping the demo gets
    everything put back); returns the function restoring the previous handler."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore
