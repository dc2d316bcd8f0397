"""Scripted receiver behaviours, chosen by URL path. Pure: no I/O, no clock.

Path grammar (for ``POST``; the query string never selects the behaviour)::

    /[{label}/...]{behaviour}[?{options}]

    behaviour        answer
    ---------        ------
    ok               200
    fail/{n}         500 (or ?status=) for the first n requests to this path, then 200
    flaky/{n}        500 (or ?status=) for the first n requests of each delivery (the same
                     ``webhook-id``) to this path, then 200; unsigned requests count as one
    status/{code}    always {code} (200-599)
    slow/{seconds}   wait {seconds} (0-3600, fractions allowed), then 200
    hang             never answer: hold the connection until the client gives up or the
                     receiver stops (then the connection is closed without a response)
    stream/{mib}     200 at once, then a body of {mib} MiB (1-4096), as fast as the client
                     reads it (a receiver that accepts and then talks too much)
    trickle/{n}      200 at once with a {n}-byte body (1-3600), one byte a second

    options          applies to      meaning
    -------          ----------      -------
    status={code}    fail, flaky     failing status, 300-599 (default 500)
    retry_after={v}  fail, flaky,    add ``Retry-After: {v}`` (seconds, or an HTTP-date)
                     status
                                     to every non-2xx answer the behaviour gives
    location={url}   status          add ``Location: {url}`` (a redirect to follow, or not)

The behaviour is the *tail* of the path: ``ok``/``hang`` as the last segment, or
``fail``/``flaky``/``status``/``slow``/``stream``/``trickle`` followed by its argument as the
last two.
Any segments before it form a free label, so one receiver serves many independent endpoints:
``/tenant-a/orders/fail/2`` and ``/tenant-b/fail/2`` count separately. Counters are kept
per distinct full path (without the query string) and count every POST, signed or not.

When the receiver stops, ``slow`` answers at once and ``hang`` drops its connection.
Other paths answer 404, a malformed argument or option 400, other methods 405. Unknown
query parameters are ignored; a known option on a behaviour it does not apply to is a 400.

Signatures: when the receiver has a secret and a request's signature is invalid, a would-be
2xx answer becomes 401; a scripted failure (``fail``, ``status``, ``hang``) keeps its answer,
since the path says otherwise. Without a secret nothing is verified.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum

from harborctl.errors import NotFound, ValidationError

INVALID_SIGNATURE_STATUS = 401
MAX_SLOW_SECONDS = 3600.0
DEFAULT_FAIL_STATUS = 500


class Kind(StrEnum):
    OK = "ok"
    FAIL = "fail"
    FLAKY = "flaky"
    STATUS = "status"
    SLOW = "slow"
    HANG = "hang"
    STREAM = "stream"
    TRICKLE = "trickle"


_ONE_SEGMENT = {Kind.OK.value: Kind.OK, Kind.HANG.value: Kind.HANG}
_TWO_SEGMENTS = {
    k.value: k for k in (Kind.FAIL, Kind.FLAKY, Kind.STATUS, Kind.SLOW, Kind.STREAM, Kind.TRICKLE)
}
_OPTIONS: dict[str, frozenset[Kind]] = {
    "status": frozenset({Kind.FAIL, Kind.FLAKY}),
    "retry_after": frozenset({Kind.FAIL, Kind.FLAKY, Kind.STATUS}),
    "location": frozenset({Kind.STATUS}),
}
MAX_STREAM_MIB = 4096
MAX_TRICKLE_BYTES = 3600


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one path asks for. ``status`` is the failing/fixed code for fail/status."""

    kind: Kind
    label: str = ""
    count: int = 0
    status: int = 200
    seconds: float = 0.0
    retry_after: str | None = None
    location: str | None = None
    body_bytes: int = 0  # stream/trickle: the body's size
    byte_interval: float = 0.0  # trickle: seconds between bytes


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request: ``status`` is None when the receiver must hang.

    ``body_bytes`` > 0 asks for a generated body of that size, one byte every
    ``byte_interval`` seconds (0: as fast as the client reads).
    """

    status: int | None
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    body_bytes: int = 0
    byte_interval: float = 0.0

    @property
    def hang(self) -> bool:
        return self.status is None


def parse(path: str, query: Mapping[str, str] | None = None) -> Behaviour:
    """The behaviour a path selects; NotFound for no behaviour, ValidationError for bad args."""
    query = query or {}
    segments = [s for s in path.split("/") if s]
    kind: Kind
    arg: str | None = None
    if segments and segments[-1] in _ONE_SEGMENT:
        kind = _ONE_SEGMENT[segments[-1]]
        label_segments = segments[:-1]
    elif len(segments) >= 2 and segments[-2] in _TWO_SEGMENTS:
        kind = _TWO_SEGMENTS[segments[-2]]
        arg = segments[-1]
        label_segments = segments[:-2]
    else:
        raise NotFound("receiver behaviour", path or "/")

    for name, kinds in _OPTIONS.items():
        if name in query and kind not in kinds:
            raise ValidationError(name, f"?{name}= does not apply to {kind.value}")

    label = "/".join(label_segments)
    retry_after = _retry_after(query["retry_after"]) if "retry_after" in query else None
    if kind in (Kind.FAIL, Kind.FLAKY):
        assert arg is not None
        count = _int(arg, kind.value, 0, 1_000_000)
        status = DEFAULT_FAIL_STATUS
        if "status" in query:
            status = _int(query["status"], "status", 300, 599)
        return Behaviour(kind, label, count=count, status=status, retry_after=retry_after)
    if kind is Kind.STATUS:
        assert arg is not None
        status = _int(arg, "status", 200, 599)
        location = query.get("location")
        return Behaviour(kind, label, status=status, retry_after=retry_after, location=location)
    if kind is Kind.STREAM:
        assert arg is not None
        mib = _int(arg, "stream", 1, MAX_STREAM_MIB)
        return Behaviour(kind, label, body_bytes=mib * 1024 * 1024)
    if kind is Kind.TRICKLE:
        assert arg is not None
        size = _int(arg, "trickle", 1, MAX_TRICKLE_BYTES)
        return Behaviour(kind, label, body_bytes=size, byte_interval=1.0)
    if kind is Kind.SLOW:
        assert arg is not None
        return Behaviour(kind, label, seconds=_seconds(arg))
    return Behaviour(kind, label)


def decide(behaviour: Behaviour, nth: int, signature_valid: bool | None = None) -> Decision:
    """The answer to the ``nth`` (1-based) request to this path (for ``flaky``: of this
    delivery to this path).

    ``signature_valid`` is False only when a secret is configured and verification
    failed; then a 2xx answer becomes 401 (scripted failures are kept).
    """
    if nth < 1:
        raise ValueError("nth is 1-based")
    if behaviour.kind is Kind.HANG:
        return Decision(status=None)
    status = 200
    delay = 0.0
    failing = behaviour.kind in (Kind.FAIL, Kind.FLAKY) and nth <= behaviour.count
    if failing or behaviour.kind is Kind.STATUS:
        status = behaviour.status
    elif behaviour.kind is Kind.SLOW:
        delay = behaviour.seconds
    headers: dict[str, str] = {}
    if signature_valid is False and 200 <= status < 300:
        status = INVALID_SIGNATURE_STATUS
    elif behaviour.retry_after is not None and not 200 <= status < 300:
        headers["Retry-After"] = behaviour.retry_after
    if behaviour.location is not None:
        headers["Location"] = behaviour.location
    if status == 200 and behaviour.body_bytes:
        return Decision(
            status=200,
            headers=headers,
            body_bytes=behaviour.body_bytes,
            byte_interval=behaviour.byte_interval,
        )
    return Decision(status=status, delay=delay, headers=headers)


def _int(raw: str, name: str, low: int, high: int) -> int:
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ValidationError(name, f"{name} must be an integer in {low}..{high}, got {raw!r}")
    return int(raw)


def _seconds(raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0.0 <= seconds <= MAX_SLOW_SECONDS:  # also rejects nan and inf
        raise ValidationError("slow", f"slow takes seconds in 0..{MAX_SLOW_SECONDS:g}, got {raw!r}")
    return seconds


def _retry_after(raw: str) -> str:
    value = raw.strip()
    if value.isascii() and value.isdigit():
        return value
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise ValidationError(
            "retry_after", f"retry_after must be seconds or an HTTP-date, got {raw!r}"
        ) from exc
    return value
