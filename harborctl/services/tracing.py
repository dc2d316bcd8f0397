"""The delivery attempt span: one per HTTP attempt, in the trace the message carries.

Each retry arrives as a new message (NSQ REQ, or the row claimed again) whose context is
the one stored at publish time, so every attempt is a new DeliveryAttempt span in the
same trace as the publish.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span

from harborctl.domain.models import FailureReason
from harborctl.observability.tracing import SPAN_ATTEMPT, mark_error, tracer

__all__ = ["Span", "attempt_span", "note_deferred", "record_attempt"]


@contextmanager
def attempt_span(attempt_no: int) -> Iterator[Span]:
    """A DeliveryAttempt span, child of the current (consumer) span, with its ids copied."""
    parent = trace.get_current_span()
    inherited = getattr(parent, "attributes", None) or {}
    attributes: dict[str, str | int] = {
        key: value
        for key in ("tenant_id", "event_id", "endpoint_id", "delivery_id")
        if isinstance(value := inherited.get(key), str)
    }
    attributes["attempt"] = attempt_no
    parent.set_attribute("attempt", attempt_no)
    with tracer().start_as_current_span(SPAN_ATTEMPT, attributes=attributes) as span:
        yield span


def record_attempt(
    span: Span, http_status: int | None, reason: FailureReason | None, error: str | None
) -> None:
    """The attempt's outcome on its span: ERROR (with the reason) unless 2xx."""
    if http_status is not None:
        span.set_attribute("http.response.status_code", http_status)
    if reason is None and http_status is not None and 200 <= http_status < 300:
        span.set_attribute("delivery.outcome", "delivered")
        return
    span.set_attribute("delivery.outcome", "failed")
    span.set_attribute("error.type", (reason or FailureReason.ERROR).value)
    mark_error(span, message=error or (reason.value if reason else "failed"))


def note_deferred(reason: FailureReason, delay: float) -> None:
    """Not attempted (breaker open, rate limited): an event on the current span."""
    trace.get_current_span().add_event(
        "deferred", {"reason": reason.value, "delay_seconds": round(delay, 3)}
    )
