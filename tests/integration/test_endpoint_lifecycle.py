"""Endpoints with a lifecycle, end to end on both transports (real ingest and worker
processes, a real receiver): a receiver answering 410 Gone disables its endpoint and the
endpoint's pending deliveries go to the DLQ; failing for the whole failing period disables
too; enabling it and replaying the DLQ brings the deliveries back; a rotated secret signs
beside the old one for the overlap, checked with the Standard Webhooks reference verifier."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from typer.testing import CliRunner

from harborctl.cli.app import app
from harborctl.receiver.server import running_receiver
from tests.support.pipeline import RECEIVER_SECRET, Pipeline, Tenant, received
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def open_receiver() -> Iterator[str]:
    """A receiver that checks no signature: the test checks them with the reference library."""
    with running_receiver() as url:
        yield url


def worker_counter(pipeline: Pipeline, name: str, **labels: str) -> float:
    """The value of a counter sample on the newest worker's /metrics (0 when absent)."""
    text = httpx.get(pipeline.workers[-1].metrics_url).text  # type: ignore[attr-defined]
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def endpoint_view(tenant: Tenant, endpoint_id: str) -> dict[str, Any]:
    with tenant.api() as api:
        answer = api.get(f"/v1/tenants/{tenant.id}/endpoints/{endpoint_id}")
    answer.raise_for_status()
    view: dict[str, Any] = answer.json()["endpoint"]
    return view


def harborctl(pipeline: Pipeline, tenant: Tenant, *args: str, code: int = 0) -> Any:
    """Run the CLI against the pipeline's ingest as the tenant: its --json answer, or its
    error line when ``code`` (the expected exit code) is not 0."""
    env: dict[str, str | None] = {
        **dict.fromkeys(k for k in pipeline.env if k.startswith("HARBORHOOK_")),
        "HARBORHOOK_STATE_DIR": str(pipeline.workdir / "cli-state"),
        "HARBORHOOK_API_URL": pipeline.api_url,
        "HARBORHOOK_API_KEY": tenant.key,
        "HARBORHOOK_TENANT_ID": tenant.id,
    }
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 else result.stderr


def test_a_410_disables_the_endpoint_and_enable_plus_replay_brings_its_deliveries_back(
    pipeline: Pipeline, receiver: str
) -> None:
    tenant = pipeline.tenant()
    endpoint_id = tenant.endpoint(f"{receiver}/moved-away/status/410", max_attempts=8)
    pipeline.workers[0].stop()  # three deliveries wait, then one worker takes them in turn
    events = [tenant.publish({"n": n})["event_id"] for n in range(3)]
    pipeline.start_worker(HARBORHOOK_WORKER_MAX_IN_FLIGHT="1")

    dead = [tenant.wait_for_status(event_id, "dead")[0] for event_id in events]
    assert {d["error_reason"] for d in dead} == {"endpoint_disabled"}
    gone = [d for d in dead if d["http_status"] == 410]
    assert len(gone) == 1 and gone[0]["attempts"] == 1  # the 410 is not retried
    pending = [d for d in dead if d["http_status"] is None]
    assert len(pending) == 2  # dead when picked, without a request
    assert {d["last_error"] for d in pending} == {"endpoint is disabled (gone)"}
    assert len(received(receiver, "/moved-away/status/410")) == 1

    view = endpoint_view(tenant, endpoint_id)
    assert (view["enabled"], view["disabled_reason"]) == (False, "gone")
    assert worker_counter(pipeline, "harborhook_endpoints_disabled_total", reason="gone") == 1
    assert (
        worker_counter(
            pipeline, "harborhook_dlq_total", endpoint_id=endpoint_id, reason="endpoint_disabled"
        )
        == 3
    )
    listed = harborctl(pipeline, tenant, "endpoints", "list")["endpoints"]
    assert [(e["endpoint_id"], e["disabled_reason"]) for e in listed] == [(endpoint_id, "gone")]
    assert tenant.publish({"n": "while disabled"})["fanout_count"] == 0  # no new fan-out
    refused = harborctl(pipeline, tenant, "dlq", "replay", "--endpoint-id", endpoint_id, code=5)
    assert "enable it first" in refused  # not while it is disabled

    # the receiver is back at another path: point the endpoint there, enable, replay
    harborctl(pipeline, tenant, "endpoints", "update", endpoint_id, "--url", f"{receiver}/back/ok")
    enabled = harborctl(pipeline, tenant, "endpoints", "enable", endpoint_id)["endpoint"]
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    replayed = harborctl(pipeline, tenant, "dlq", "replay", "--endpoint-id", endpoint_id)
    assert replayed["replayed"] == 3
    assert {d["replay_of"] for d in replayed["deliveries"]} == {d["delivery_id"] for d in dead}
    for event_id in events:
        delivered = tenant.wait_for_status(event_id, "delivered")
        assert [d["replay_of"] for d in delivered] != [None]
    after = tenant.publish({"n": "enabled again"})
    assert after["fanout_count"] == 1
    tenant.wait_for_status(after["event_id"], "delivered")
    bodies = sorted(str(json.loads(r["body"])["n"]) for r in received(receiver, "/back/ok"))
    assert bodies == ["0", "1", "2", "enabled again"]
    assert all(r["signature_valid"] for r in received(receiver, "/back/ok"))


def test_an_endpoint_failing_for_the_whole_failing_period_is_disabled(
    pipeline: Pipeline, receiver: str
) -> None:
    pipeline.workers[0].stop()
    pipeline.start_worker(HARBORHOOK_DISABLE_FAILING_ENDPOINT_AFTER_SECONDS="1.5")
    tenant = pipeline.tenant()
    endpoint_id = tenant.endpoint(f"{receiver}/down/status/500", max_attempts=100)
    published = tenant.publish({"n": 1})
    [dead] = tenant.wait_for_status(published["event_id"], "dead", timeout=45)

    assert dead["error_reason"] == "endpoint_disabled" and dead["http_status"] == 500
    assert dead["last_error"].endswith("; endpoint is disabled (failing)")
    attempts = tenant.delivery(dead["delivery_id"])["attempts"]
    assert len(attempts) >= 2 and attempts[-1]["reason"] == "endpoint_disabled"
    assert {a["reason"] for a in attempts[:-1]} == {"http_5xx"}  # retried until then
    first = datetime.fromisoformat(attempts[0]["started_at"])
    last = datetime.fromisoformat(attempts[-1]["started_at"])
    assert (last - first).total_seconds() >= 1.5 - 0.5  # the period runs from the first failure

    view = endpoint_view(tenant, endpoint_id)
    assert (view["enabled"], view["disabled_reason"]) == (False, "failing")
    assert view["failing_since"] is not None
    assert worker_counter(pipeline, "harborhook_endpoints_disabled_total", reason="failing") == 1
    enabled = harborctl(pipeline, tenant, "endpoints", "enable", endpoint_id)["endpoint"]
    assert enabled["failing_since"] is None  # a fresh start, not disabled again at once


def test_a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(
    pipeline: Pipeline, open_receiver: str
) -> None:
    tenant = pipeline.tenant()
    path = "/rotating/ok"
    endpoint_id = tenant.endpoint(f"{open_receiver}{path}")
    rotated = harborctl(
        pipeline, tenant, "endpoints", "rotate-secret", endpoint_id, "--overlap", "6s"
    )
    new_secret = rotated["secret"]
    until = datetime.fromisoformat(rotated["endpoint"]["previous_secret_until"])

    during = tenant.publish({"during": "overlap"})
    tenant.wait_for_status(during["event_id"], "delivered")
    [first] = received(open_receiver, path)
    assert datetime.now(UTC) < until, "the overlap ended before the check: make it longer"
    assert len(first["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (RECEIVER_SECRET, new_secret):  # the receiver may hold either
        assert Webhook(secret).verify(first["body"], first["headers"]) == {"during": "overlap"}

    wait_until(lambda: datetime.now(UTC) > until, 30, describe="the overlap to end")
    after = tenant.publish({"after": "overlap"})
    tenant.wait_for_status(after["event_id"], "delivered")
    [_, second] = received(open_receiver, path)
    assert len(second["headers"]["webhook-signature"].split(" ")) == 1
    assert Webhook(new_secret).verify(second["body"], second["headers"]) == {"after": "overlap"}
    with pytest.raises(WebhookVerificationError):
        Webhook(RECEIVER_SECRET).verify(second["body"], second["headers"])
    # the old secret is erased once it no longer signs
    wait_until(
        lambda: endpoint_view(tenant, endpoint_id)["previous_secret_until"] is None,
        10,
        describe="the worker to drop the expired secret",
    )
