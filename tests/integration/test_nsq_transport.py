"""The nsq transport against real nsqd and nsqlookupd."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from harborctl.queue.base import Disposition, Done, Later
from harborctl.queue.envelope import DeliveryMessage
from harborctl.queue.nsq import NsqConsumer, NsqPublisher
from tests.support.services import Nsqd
from tests.support.wait import wait_until_async

pytestmark = pytest.mark.nsq


def _message(n: int) -> DeliveryMessage:
    return DeliveryMessage(f"dlv_{n}", "evt_1", "ten_1", "ep_1", {"traceparent": "x"})


def test_a_worker_started_before_the_topic_exists_finds_it_quickly(nsqd: Nsqd) -> None:
    """Discovery must not wait for the (long) lookupd poll interval."""
    topic = f"t.{uuid.uuid4().hex[:8]}"
    seen: list[DeliveryMessage] = []

    async def scenario() -> None:
        consumer = NsqConsumer(
            topic=topic,
            channel="workers",
            lookupd_http_addresses=[nsqd.lookupd.http_address],  # type: ignore[union-attr]
            max_in_flight=5,
            lookupd_poll_interval=600,
        )

        async def handler(message: DeliveryMessage, claimed: bool) -> Disposition:
            seen.append(message)
            return Done()

        running = asyncio.create_task(consumer.run(handler))
        publisher = NsqPublisher([nsqd.tcp_address], topic=topic, dlq_topic=topic + ".dlq")
        await publisher.start()
        await publisher.publish([_message(1), _message(2)])
        await wait_until_async(lambda: len(seen) == 2, 15, describe=lambda: f"seen {seen}")
        consumer.stop()
        await publisher.close()
        await asyncio.wait_for(running, 10)

    asyncio.run(scenario())
    assert sorted(m.delivery_id for m in seen) == ["dlv_1", "dlv_2"]
    assert seen[0].trace_context == {"traceparent": "x"}


def test_later_requeues_with_a_delay_and_the_message_comes_back(nsqd: Nsqd) -> None:
    topic = f"t.{uuid.uuid4().hex[:8]}"
    arrivals: list[float] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        publisher = NsqPublisher([nsqd.tcp_address], topic=topic, dlq_topic=topic + ".dlq")
        await publisher.start()
        await publisher.publish([_message(1)])  # the topic exists before the consumer
        consumer = NsqConsumer(
            topic=topic,
            channel="workers",
            lookupd_http_addresses=[nsqd.lookupd.http_address],  # type: ignore[union-attr]
            max_in_flight=5,
        )

        async def handler(message: DeliveryMessage, claimed: bool) -> Disposition:
            arrivals.append(loop.time())
            return Later(0.5) if len(arrivals) == 1 else Done()

        running = asyncio.create_task(consumer.run(handler))
        await wait_until_async(lambda: len(arrivals) == 2, 15, describe=lambda: f"{arrivals}")
        consumer.stop()
        await publisher.close()
        await asyncio.wait_for(running, 10)

    asyncio.run(scenario())
    assert arrivals[1] - arrivals[0] >= 0.45  # REQ with the delay, not at once
