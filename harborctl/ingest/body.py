"""The publish request's body: read under the size limit, then parsed and validated.

The limit is ``max_payload_bytes`` (DESIGN.md: payload at most 1 MiB, configurable); a body
over it answers 413 as soon as that is known, before it is all read.
"""

from __future__ import annotations

import json

from fastapi import Request
from pydantic import ValidationError as PydanticValidationError

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


def parse_publish(body: bytes) -> PublishRequest:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _MalformedJson() from exc
    if not isinstance(data, dict):
        raise ValidationError("body", "the request body must be a JSON object")
    if "payload" not in data:
        raise ValidationError("payload", "payload is required")
    try:
        return PublishRequest.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValidationError(field, f"{field}: {first['msg']}") from exc


class _MalformedJson(ValidationError):
    status_code = 400
    code = "malformed_json"

    def __init__(self) -> None:
        super().__init__("body", "request body is not valid JSON")
