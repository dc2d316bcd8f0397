"""Standard Webhooks signing and verification (https://www.standardwebhooks.com).

Each request carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``. Secrets are
``whsec_`` followed by the base64 of the raw key. The signature header may hold several
space-separated signatures (secret rotation); a request is valid if any ``v1`` one matches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from harborctl.errors import ValidationError

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
# Standard Webhooks, "Signature scheme / Symmetric": secrets are 24 to 64 random bytes
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class SignatureError(ValidationError):
    """A webhook request failed verification; ``field`` names the offending header."""

    status_code = 401
    code = "invalid_signature"

    def __init__(self, message: str, field: str = HEADER_SIGNATURE) -> None:
        super().__init__(field, message)


def generate_secret(raw: bytes | None = None) -> str:
    """A new ``whsec_`` secret from 24 bytes of ``secrets`` randomness, or from ``raw``."""
    key = secrets.token_bytes(SECRET_BYTES) if raw is None else raw
    _check_key_length(key)
    return SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def decode_secret(secret: str) -> bytes:
    """The raw HMAC key of a secret (the ``whsec_`` prefix is optional); any non-empty key,
    so endpoints stored before the size rule keep being signed for. New secrets go through
    :func:`validate_secret`. Raises ValidationError (field ``secret``) on bad base64."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII input
        raise ValidationError("secret", "secret is not valid base64 (whsec_<base64>)") from exc
    if not key:
        raise ValidationError("secret", "secret must not be empty")
    return key


def validate_secret(secret: str) -> bytes:
    """The raw key of a secret given by a user; raises ValidationError (field ``secret``)
    unless it is base64 of 24 to 64 bytes, the key sizes Standard Webhooks sets."""
    key = decode_secret(secret)
    _check_key_length(key)
    return key


def _check_key_length(key: bytes) -> None:
    if not key:
        raise ValidationError("secret", "secret must not be empty")
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValidationError(
            "secret",
            f"secret key is {len(key)} bytes; Standard Webhooks secrets are "
            f"{MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes (whsec_<base64>)",
        )


def _sign_key(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode('ascii')}"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message."""
    return _sign_key(decode_secret(secret), msg_id, str(timestamp), body)


def signature_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for an outbound request."""
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check a received webhook; raise :class:`SignatureError` unless it is authentic.

    Header names are matched case-insensitively. The timestamp must be within
    ``tolerance_seconds`` of ``now`` in either direction (replay protection).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    found: dict[str, str] = {}
    for name in (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE):
        value = lowered.get(name)
        if not value:
            raise SignatureError(f"missing {name} header", field=name)
        found[name] = value.strip()

    raw_ts = found[HEADER_TIMESTAMP]
    if not (raw_ts.isascii() and raw_ts.isdigit()):
        raise SignatureError("webhook-timestamp is not Unix seconds", field=HEADER_TIMESTAMP)
    timestamp = int(raw_ts)
    if timestamp < now - tolerance_seconds:
        raise SignatureError("webhook-timestamp is too old", field=HEADER_TIMESTAMP)
    if timestamp > now + tolerance_seconds:
        raise SignatureError("webhook-timestamp is in the future", field=HEADER_TIMESTAMP)

    # Sign the timestamp exactly as sent: the sender signed the header text.
    expected = _sign_key(decode_secret(secret), found[HEADER_ID], raw_ts, body).encode("ascii")
    for candidate in found[HEADER_SIGNATURE].split():
        version, _, _ = candidate.partition(",")
        if version != SIGNATURE_VERSION:
            continue  # other schemes (e.g. v1a asymmetric) are not ours to check
        if hmac.compare_digest(candidate.encode("utf-8", "replace"), expected):
            return
    raise SignatureError("no matching signature")
