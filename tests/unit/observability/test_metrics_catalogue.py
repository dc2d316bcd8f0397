"""The metric catalogue of DESIGN.md, and the label budget that bounds its label values."""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harborctl.domain.attempt import (
    AttemptFinished,
    CircuitState,
    DeadLettered,
    DeliveredEndToEnd,
    Retried,
)
from harborctl.domain.models import DeliveryStatus, FailureReason
from harborctl.observability.metrics import OTHER, LabelBudget, Metrics

# DESIGN.md "Metrics": name → (type, labels); the worker/ingest process part of it
CATALOGUE = {
    "harborhook_events_published": ("counter", {"tenant_id"}),
    "harborhook_publish_latency_seconds": ("histogram", {"tenant_id"}),
    "harborhook_deliveries": ("counter", {"status", "tenant_id", "endpoint_id"}),
    "harborhook_delivery_latency_seconds": ("histogram", {"tenant_id"}),
    "harborhook_delivery_e2e_seconds": ("histogram", {"tenant_id"}),
    "harborhook_retries": ("counter", {"endpoint_id", "reason"}),
    "harborhook_dlq": ("counter", {"endpoint_id", "reason"}),
    "harborhook_worker_backlog": ("gauge", set()),
    "harborhook_circuit_open": ("gauge", {"endpoint_id"}),
    "harborhook_endpoints_disabled": ("counter", {"reason"}),
    # docs/metrics.md: publishes refused as overloaded (ingest.admission)
    "harborhook_publish_refused": ("counter", {"reason"}),
}


def _exercised() -> Metrics:
    metrics = Metrics()
    metrics.published("t1", 0.01)
    metrics.attempt_finished("failed", "t1", "e1", 0.2)
    metrics.attempt_finished("delivered", "t1", "e1", 0.1)
    metrics.delivered_end_to_end("t1", 1.5)
    metrics.retried("e1", "http_5xx")
    metrics.dead_lettered("e1", "timeout")
    metrics.breaker_state("e1", False)
    metrics.endpoint_disabled("gone")
    metrics.refused("in_flight")
    return metrics


def _labels_of(metrics: Metrics) -> dict[str, tuple[str, set[str]]]:
    text = generate_latest(metrics.registry).decode()
    found: dict[str, tuple[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        labels: set[str] = set()
        for sample in family.samples:
            if sample.name.endswith(("_total", "_count", "_sum", "_bucket")) or (
                sample.name == family.name
            ):
                labels |= set(sample.labels) - {"le"}
        found[family.name] = (family.type, labels)
    return found


def test_catalogue_matches_design_name_for_name() -> None:
    assert _labels_of(_exercised()) == CATALOGUE


def test_counters_are_exposed_with_the_total_suffix() -> None:
    text = generate_latest(_exercised().registry).decode()
    for name in ("events_published", "deliveries", "retries", "dlq", "endpoints_disabled"):
        assert f"harborhook_{name}_total{{" in text


def test_latency_buckets_span_milliseconds_to_tens_of_seconds() -> None:
    text = generate_latest(_exercised().registry).decode()
    assert 'harborhook_delivery_latency_seconds_bucket{le="0.005"' in text
    assert 'harborhook_delivery_latency_seconds_bucket{le="30.0"' in text


def test_an_attempt_without_http_request_is_counted_without_latency() -> None:
    metrics = Metrics()
    metrics.attempt_finished("dead", "t1", "e1", None)
    text = generate_latest(metrics.registry).decode()
    assert 'harborhook_deliveries_total{endpoint_id="e1",status="dead",tenant_id="t1"} 1.0' in text
    assert "harborhook_delivery_latency_seconds_count" not in text


def test_label_budget_folds_values_past_the_limit_into_other() -> None:
    budget = LabelBudget(3)
    assert [budget(v) for v in ("a", "b", "c")] == ["a", "b", "c"]
    assert budget("d") == OTHER
    assert budget("e") == OTHER
    assert budget("a") == "a"  # admitted values keep their own series


def test_past_the_bound_new_endpoints_share_one_other_series() -> None:
    metrics = Metrics(label_limit=500)
    for n in range(600):
        metrics.attempt_finished("delivered", "tenant", f"ep{n}", 0.01)
    samples = [
        s
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        if family.name == "harborhook_deliveries"
        for s in family.samples
        if s.name == "harborhook_deliveries_total"
    ]
    endpoints = {s.labels["endpoint_id"]: s.value for s in samples}
    assert len(endpoints) == 501  # 500 admitted + `other`
    assert endpoints[OTHER] == 100
    assert sum(endpoints.values()) == 600  # nothing lost, only folded


def test_a_delivery_attempts_metric_events_land_in_their_series() -> None:
    metrics = Metrics()
    for event in (
        AttemptFinished(DeliveryStatus.FAILED, "t1", "e1", 0.2),
        Retried("e1", FailureReason.HTTP_429),
        AttemptFinished(DeliveryStatus.DEAD, "t1", "e1", None),
        DeadLettered("e1", FailureReason.TIMEOUT),
        DeliveredEndToEnd("t1", 1.5),
        CircuitState("e1", True),
    ):
        metrics.observe(event)
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for s in family.samples
    }
    deliveries = "harborhook_deliveries_total"
    assert values[(deliveries, (("endpoint_id", "e1"), ("status", "failed"), ("tenant_id", "t1")))]
    assert values[(deliveries, (("endpoint_id", "e1"), ("status", "dead"), ("tenant_id", "t1")))]
    assert values[("harborhook_delivery_latency_seconds_count", (("tenant_id", "t1"),))] == 1
    assert values[("harborhook_retries_total", (("endpoint_id", "e1"), ("reason", "http_429")))]
    assert values[("harborhook_dlq_total", (("endpoint_id", "e1"), ("reason", "timeout")))]
    assert values[("harborhook_delivery_e2e_seconds_sum", (("tenant_id", "t1"),))] == 1.5
    assert values[("harborhook_circuit_open", (("endpoint_id", "e1"),))] == 1


def test_latency_observations_carry_the_trace_id_as_an_exemplar_in_openmetrics() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    from harborctl.observability.metrics import Metrics, exposition

    metrics = Metrics()
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("DeliveryAttempt") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        metrics.attempt_finished("delivered", "ten_a", "ep_a", 0.2)
        metrics.delivered_end_to_end("ten_a", 1.5)
    metrics.attempt_finished("delivered", "ten_a", "ep_a", 0.3)  # outside a span: no exemplar

    body, content_type = exposition(metrics.registry, "application/openmetrics-text;version=1.0.0")
    text = body.decode()
    assert content_type.startswith("application/openmetrics-text")
    bucket = 'harborhook_delivery_latency_seconds_bucket{le="0.25",tenant_id="ten_a"} 1.0'
    assert f'{bucket} # {{trace_id="{trace_id}"}} 0.2' in text
    assert f'# {{trace_id="{trace_id}"}} 1.5' in text
    assert text.rstrip().endswith("# EOF")

    plain, plain_type = exposition(metrics.registry, None)
    assert plain_type.startswith("text/plain")
    assert "trace_id" not in plain.decode()
    assert (
        'harborhook_deliveries_total{endpoint_id="ep_a",status="delivered",tenant_id="ten_a"} 2.0'
        in plain.decode()
    )


def test_disabled_endpoints_are_counted_by_reason_from_the_closed_set() -> None:
    from harborctl.domain.models import DisabledReason

    metrics = Metrics()
    for reason in (DisabledReason.GONE, DisabledReason.GONE, DisabledReason.FAILING):
        metrics.endpoint_disabled(reason.value)
    text = generate_latest(metrics.registry).decode()
    assert 'harborhook_endpoints_disabled_total{reason="gone"} 2.0' in text
    assert 'harborhook_endpoints_disabled_total{reason="failing"} 1.0' in text
    assert {r.value for r in DisabledReason} == {"gone", "failing", "manual"}
