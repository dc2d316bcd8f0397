"""The versioned JSON message that travels through the queue for each delivery.

The database holds the payload and the state; the envelope only names the delivery and
carries the W3C trace context across the hop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from harborctl.domain.models import Delivery
from harborctl.errors import ValidationError

ENVELOPE_VERSION = 1


@dataclass(frozen=True, slots=True)
class DeliveryMessage:
    delivery_id: str
    event_id: str
    tenant_id: str
    endpoint_id: str
    trace_context: dict[str, str] = field(default_factory=dict)  # traceparent, tracestate

    @classmethod
    def of(cls, delivery: Delivery, trace_context: dict[str, str] | None = None) -> DeliveryMessage:
        """The message for a stored delivery; its stored trace context unless one is given."""
        return cls(
            delivery_id=delivery.id,
            event_id=delivery.event_id,
            tenant_id=delivery.tenant_id,
            endpoint_id=delivery.endpoint_id,
            trace_context=dict(trace_context or delivery.trace_context or {}),
        )

    def encode(self) -> bytes:
        return orjson.dumps({"v": ENVELOPE_VERSION, **self.as_dict()})

    def as_dict(self) -> dict[str, Any]:
        """The message's fields (``dataclasses.asdict`` deep-copies: a hot-path cost)."""
        return {
            "delivery_id": self.delivery_id,
            "event_id": self.event_id,
            "tenant_id": self.tenant_id,
            "endpoint_id": self.endpoint_id,
            "trace_context": self.trace_context,
        }

    @classmethod
    def decode(cls, raw: bytes) -> DeliveryMessage:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:  # a ValueError; invalid UTF-8 included
            raise ValidationError("message", f"not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("v") != ENVELOPE_VERSION:
            raise ValidationError("v", f"unsupported envelope version: {data!r:.80}")
        try:
            return cls(
                delivery_id=str(data["delivery_id"]),
                event_id=str(data["event_id"]),
                tenant_id=str(data["tenant_id"]),
                endpoint_id=str(data["endpoint_id"]),
                trace_context=dict(data.get("trace_context") or {}),
            )
        except KeyError as exc:
            raise ValidationError(str(exc.args[0]), "missing from the envelope") from exc


def dead_letter_body(
    message: DeliveryMessage, reason: str, http_status: int | None, error: str | None
) -> bytes:
    """The message published on the DLQ topic when a delivery goes dead."""
    body = {
        "v": ENVELOPE_VERSION,
        **message.as_dict(),
        "reason": reason,
        "last_http_status": http_status,
        "last_error": error,
    }
    return orjson.dumps(body)
