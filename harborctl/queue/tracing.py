"""PRODUCER spans for a transport's publish, and the trace context they put in envelopes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from harborctl.observability.tracing import extract_context, inject_context, mark_error, tracer
from harborctl.queue.envelope import DeliveryMessage


def _attributes(topic: str, count: int) -> dict[str, str | int]:
    return {
        "messaging.system": "nsq",
        "messaging.destination.name": topic,
        "messaging.operation": "publish",
        "messaging.operation.type": "send",
        "messaging.batch.message_count": count,
    }


@contextmanager
def producer_span(topic: str, count: int) -> Iterator[Span]:
    """A PRODUCER span around one publish in the current context; errors marked."""
    with tracer().start_as_current_span(
        f"{topic} publish",
        kind=SpanKind.PRODUCER,
        attributes=_attributes(topic, count),
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except Exception as exc:
            mark_error(span, exc)
            raise


@contextmanager
def producer_spans(
    topic: str, messages: Sequence[DeliveryMessage]
) -> Iterator[list[DeliveryMessage]]:
    """Start one PRODUCER span per distinct trace context among ``messages`` and yield the
    messages re-stamped with their span's context; the spans end when the block does.

    A message without context is parented on the current span. A batch from one publish
    shares one span; the reconciler's batch of stale deliveries gets one per trace, each
    in its own original trace.
    """
    spans: dict[tuple[tuple[str, str], ...], tuple[Span, dict[str, str]]] = {}
    counts: dict[tuple[tuple[str, str], ...], int] = {}
    for message in messages:
        key = tuple(sorted(message.trace_context.items()))
        counts[key] = counts.get(key, 0) + 1
    for key, count in counts.items():
        parent = extract_context(dict(key)) if key else None
        span = tracer().start_span(
            f"{topic} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes=_attributes(topic, count),
        )
        spans[key] = (span, inject_context(trace.set_span_in_context(span)) or dict(key))
    stamped = [
        dataclasses.replace(m, trace_context=spans[tuple(sorted(m.trace_context.items()))][1])
        for m in messages
    ]
    try:
        yield stamped
    except Exception as exc:
        for span, _ in spans.values():
            mark_error(span, exc)
        raise
    finally:
        for span, _ in spans.values():
            span.end()
