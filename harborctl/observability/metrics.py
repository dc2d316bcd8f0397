"""The metric catalogue of DESIGN.md: names, types and labels are a public contract.

Label values are bounded: each of tenant_id and endpoint_id admits at most
``MAX_LABEL_VALUES`` distinct values per process; later values are recorded under
``OTHER`` so one tenant with a million endpoints cannot blow up Prometheus. ``status`` and
``reason`` come from closed enums. See docs/metrics.md.
"""

from __future__ import annotations

import threading

from opentelemetry import trace
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import choose_encoder

from harborctl.domain.attempt import (
    AttemptFinished,
    CircuitState,
    DeadLettered,
    DeliveredEndToEnd,
    DeliveryMetric,
    Retried,
)
from harborctl.domain.models import DisabledReason

# no `<name>_created` series: the catalogue is exactly DESIGN.md's (and half the series)
disable_created_metrics()  # type: ignore[no-untyped-call]

MAX_LABEL_VALUES = 500
#: Why a publish was refused as overloaded (``harborhook_publish_refused_total{reason}``):
#: too many publishes in progress, or it waited past the publish deadline for its turn.
PUBLISH_REFUSAL_REASONS = ("in_flight", "deadline")
OTHER = "other"
EXEMPLAR_LABEL = "trace_id"  # Grafana's exemplarTraceIdDestinations name (datasources.yaml)


def trace_exemplar() -> dict[str, str] | None:
    """``{"trace_id": <32 hex>}`` of the current span when it is sampled, else None.

    Attached to the latency histograms' observations, it links a bucket to one trace: a
    scrape that asks for OpenMetrics gets it as an exemplar (``exposition``), Prometheus
    stores it (``--enable-feature=exemplar-storage``), Grafana draws it and opens the trace.
    """
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return {EXEMPLAR_LABEL: format(context.trace_id, "032x")}


def exposition(registry: CollectorRegistry, accept: str | None) -> tuple[bytes, str]:
    """The registry's samples and their content type, in the format the scraper asked for:
    OpenMetrics (with exemplars) when ``accept`` names ``application/openmetrics-text`` (as
    Prometheus does), else the Prometheus text format 0.0.4 (no exemplars)."""
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


# webhook latencies: milliseconds to tens of seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# accepted → delivered includes retries: up to hours
E2E_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400)


class LabelBudget:
    """Admits up to ``limit`` distinct values, then folds new ones into ``other``."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen:
                return value
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
            return value


class Metrics:
    """One registry per process, so tests can build several side by side."""

    def __init__(
        self, registry: CollectorRegistry | None = None, label_limit: int = MAX_LABEL_VALUES
    ):
        self.registry = registry or CollectorRegistry()
        self.tenant = LabelBudget(label_limit)
        self.endpoint = LabelBudget(label_limit)
        r = self.registry
        self.events_published = Counter(
            "harborhook_events_published",
            "Events accepted by the ingest API.",
            ["tenant_id"],
            registry=r,
        )
        self.publish_latency = Histogram(
            "harborhook_publish_latency_seconds",
            "Time to accept one publish call.",
            ["tenant_id"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "harborhook_deliveries",
            "Delivery attempts by outcome.",
            ["status", "tenant_id", "endpoint_id"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "harborhook_delivery_latency_seconds",
            "Duration of one outbound HTTP attempt.",
            ["tenant_id"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.delivery_e2e = Histogram(
            "harborhook_delivery_e2e_seconds",
            "Event accepted to delivered, retries included.",
            ["tenant_id"],
            buckets=E2E_BUCKETS,
            registry=r,
        )
        self.retries = Counter(
            "harborhook_retries",
            "Deliveries scheduled again, by reason.",
            ["endpoint_id", "reason"],
            registry=r,
        )
        self.dlq = Counter(
            "harborhook_dlq",
            "Deliveries moved to the dead-letter queue.",
            ["endpoint_id", "reason"],
            registry=r,
        )
        self.worker_backlog = Gauge(
            "harborhook_worker_backlog",
            "Messages held by this worker (in flight + waiting).",
            registry=r,
        )
        self.circuit_open = Gauge(
            "harborhook_circuit_open",
            "1 while the endpoint's circuit breaker is open.",
            ["endpoint_id"],
            registry=r,
        )
        self.endpoints_disabled = Counter(
            "harborhook_endpoints_disabled",
            "Endpoints disabled, by reason (gone: 410; failing: failing too long; manual).",
            ["reason"],
            registry=r,
        )
        for reason in DisabledReason:  # from 0: the first disable is an increase() too
            self.endpoints_disabled.labels(reason.value)
        self.publish_refused = Counter(
            "harborhook_publish_refused",
            "Publishes answered 503 overloaded, by reason (in_flight: too many in progress; "
            "deadline: waited too long for their turn). Nothing of them was stored.",
            ["reason"],
            registry=r,
        )
        for refusal in PUBLISH_REFUSAL_REASONS:
            self.publish_refused.labels(refusal)

    # recording helpers keep the label folding in one place

    def refused(self, reason: str) -> None:
        """One publish refused as overloaded; ``reason`` is one of PUBLISH_REFUSAL_REASONS."""
        self.publish_refused.labels(reason).inc()

    def published(self, tenant_id: str, seconds: float) -> None:
        tenant = self.tenant(tenant_id)
        self.events_published.labels(tenant).inc()
        self.publish_latency.labels(tenant).observe(seconds, trace_exemplar())

    def attempt_finished(
        self, status: str, tenant_id: str, endpoint_id: str, seconds: float | None
    ) -> None:
        """One delivery outcome; ``seconds`` is None when no HTTP request was made."""
        tenant = self.tenant(tenant_id)
        self.deliveries.labels(status, tenant, self.endpoint(endpoint_id)).inc()
        if seconds is not None:
            self.delivery_latency.labels(tenant).observe(seconds, trace_exemplar())

    def delivered_end_to_end(self, tenant_id: str, seconds: float) -> None:
        self.delivery_e2e.labels(self.tenant(tenant_id)).observe(seconds, trace_exemplar())

    def retried(self, endpoint_id: str, reason: str) -> None:
        self.retries.labels(self.endpoint(endpoint_id), reason).inc()

    def dead_lettered(self, endpoint_id: str, reason: str) -> None:
        self.dlq.labels(self.endpoint(endpoint_id), reason).inc()

    def breaker_state(self, endpoint_id: str, is_open: bool) -> None:
        self.circuit_open.labels(self.endpoint(endpoint_id)).set(1 if is_open else 0)

    def endpoint_disabled(self, reason: str) -> None:
        """An endpoint was disabled; ``reason`` is a ``DisabledReason`` value."""
        self.endpoints_disabled.labels(reason).inc()

    def observe(self, event: DeliveryMetric) -> None:
        """Record one of a delivery attempt's metric events (``harborctl.domain.attempt``)."""
        match event:
            case AttemptFinished(status, tenant_id, endpoint_id, seconds):
                self.attempt_finished(status.value, tenant_id, endpoint_id, seconds)
            case Retried(endpoint_id, reason):
                self.retried(endpoint_id, reason.value)
            case DeadLettered(endpoint_id, reason):
                self.dead_lettered(endpoint_id, reason.value)
            case DeliveredEndToEnd(tenant_id, seconds):
                self.delivered_end_to_end(tenant_id, seconds)
            case CircuitState(endpoint_id, is_open):
                self.breaker_state(endpoint_id, is_open)
