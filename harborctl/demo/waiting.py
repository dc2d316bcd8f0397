"""How the demo waits: it polls every ``POLL`` seconds until a deadline on the monotonic
clock (``deadline(seconds)``), never for a fixed time."""

from __future__ import annotations

import time

POLL = 0.5  # seconds between two looks at what is awaited


def deadline(seconds: float) -> float:
    """The ``time.monotonic()`` value ``seconds`` from now."""
    return time.monotonic() + seconds
