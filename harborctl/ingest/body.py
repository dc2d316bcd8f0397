"""The publish request's body: read under the size limit, then parsed and validated.

The limit is ``max_payload_bytes`` (DESIGN.md: payload at most 1 MiB, configurable); a body
over it answers 413 as soon as that is known, before it is all read.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from pydantic import ValidationError as PydanticValidationError

from harborctl.domain.strict_json import parse_members
from harborctl.errors import PayloadTooLarge, ValidationError
from harborctl.ingest.schemas import PublishRequest


async def read_limited(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) as soon as it is known to exceed the limit."""
    declared = request.headers.get("content-length")
    # the envelope ({"event_type", "idempotency_key"}) may add a little on top of the payload
    envelope_allowance = 4096
    if declared and declared.isdigit() and int(declared) > limit + envelope_allowance:
        raise PayloadTooLarge("payload", f"request body is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + envelope_allowance:
            raise PayloadTooLarge("payload", f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class PublishBody:
    """A publish request, read: ``payload`` is the exact bytes the client sent for it."""

    event_type: str
    payload: bytes
    idempotency_key: str | None


def parse_publish(body: bytes, *, max_payload_bytes: int, max_depth: int) -> PublishBody:
    """Read a publish request strictly (``harborctl.domain.strict_json``).

    The payload is kept byte for byte (never re-encoded: numbers, key order and spacing
    survive); anything that is not strict RFC 8259 JSON answers 400 naming ``payload`` (or
    ``body`` when the envelope around it is broken); the other fields are validated by
    ``PublishRequest`` (422 naming the field); a payload over ``max_payload_bytes`` is 413.
    """
    members = parse_members(body, raw_member="payload", max_depth=max_depth)
    if "payload" not in members:
        raise ValidationError("payload", "payload is required")
    payload = members["payload"].raw
    if len(payload) > max_payload_bytes:
        raise PayloadTooLarge("payload", f"payload is over the {max_payload_bytes}-byte limit")
    fields = {name: member.value for name, member in members.items() if name != "payload"}
    try:
        checked = PublishRequest.model_validate({**fields, "payload": None})
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValidationError(field, f"{field}: {first['msg']}") from exc
    return PublishBody(checked.event_type, payload, checked.idempotency_key)
