"""What the delivery path records is what happened: real ingest and worker processes, both
transports, a real receiver; inputs from problem reports of webhook platforms."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.support.pipeline import Pipeline, received

pytestmark = pytest.mark.slow


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_a_200_then_one_byte_a_second_is_delivered_once(pipeline: Pipeline, receiver: str) -> None:
    """Every attempt used to be recorded as a timeout and POSTed again until dead, although
    the receiver accepted each one."""
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/trickle/trickle/600")
    published = tenant.publish({"n": 1})
    [done] = tenant.wait_for_status(published["event_id"], "delivered")
    assert done["attempts"] == 1 and done["http_status"] == 200
    assert len(received(receiver, "/trickle/trickle/600")) == 1


def test_a_200_then_600_mb_is_delivered_and_the_worker_stays_small(
    pipeline: Pipeline, receiver: str
) -> None:
    """The worker grew from 90 MB to 1.3 GB and kept 320 MB afterwards."""
    worker = pipeline.workers[0]
    assert worker.pid is not None
    before = _rss_kib(worker.pid)
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/big/stream/600")
    published = tenant.publish({"n": 2})
    [done] = tenant.wait_for_status(published["event_id"], "delivered")
    assert done["attempts"] == 1
    grown_mib = (_rss_kib(worker.pid) - before) / 1024
    assert grown_mib < 50, f"the worker grew by {grown_mib:.0f} MiB"


def test_the_start_of_an_error_answer_is_kept_with_its_attempt(
    pipeline: Pipeline, receiver: str
) -> None:
    tenant = pipeline.tenant()
    tenant.endpoint(f"{receiver}/refuse/status/422", max_attempts=1)
    published = tenant.publish({"n": 3})
    [dead] = tenant.wait_for_status(published["event_id"], "dead")
    [attempt] = tenant.delivery(dead["delivery_id"])["attempts"]
    assert attempt["http_status"] == 422
    assert attempt["response_excerpt"] and '"status": 422' in attempt["response_excerpt"]


def test_a_redirect_is_not_followed(pipeline: Pipeline, receiver: str) -> None:
    tenant = pipeline.tenant()
    landed = f"{receiver}/landed/ok"
    tenant.endpoint(f"{receiver}/moved/status/307?location={landed}", max_attempts=1)
    published = tenant.publish({"n": 4})
    [dead] = tenant.wait_for_status(published["event_id"], "dead")
    assert dead["http_status"] == 307 and dead["error_reason"] == "http_other"
    assert received(receiver, "/landed/ok") == []


def test_a_name_that_resolves_to_a_blocked_address_is_refused_once_not_retried(
    pipeline: Pipeline, receiver: str
) -> None:
    """The check is made on the address connected to, at delivery time: whatever a name
    resolved to when the endpoint was created, it is judged again now (DNS rebinding)."""
    pipeline.workers[0].stop()
    pipeline.start_worker(HARBORHOOK_OUTBOUND_ALLOW_CIDRS="[]")  # the default: nothing open
    port = urlsplit(receiver).port
    tenant = pipeline.tenant()
    tenant.endpoint(f"http://localhost:{port}/guarded/ok")
    published = tenant.publish({"n": 5})
    [dead] = tenant.wait_for_status(published["event_id"], "dead")
    assert dead["attempts"] == 1
    assert dead["error_reason"] == "blocked_address"
    assert "loopback" in dead["last_error"]
    assert received(receiver, "/guarded/ok") == []
