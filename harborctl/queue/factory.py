"""Choose the transport the settings name: ``nsq`` (real nsqd) or ``db`` (the table is the
queue). The only module that knows both; everything else is written against ``base``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from harborctl.queue.base import Consumer, Publisher
from harborctl.settings import Settings
from harborctl.store.work import WorkRepository


def make_publisher(settings: Settings) -> Publisher:
    """The publisher of the configured transport (ingest fans out with it, workers
    dead-letter and re-publish with it)."""
    if settings.transport == "nsq":
        from harborctl.queue.nsq import NsqPublisher

        return NsqPublisher(
            settings.nsqd_tcp_addresses,
            topic=settings.deliveries_topic,
            dlq_topic=settings.dlq_topic,
        )
    from harborctl.queue.db import DbPublisher

    return DbPublisher()


def make_consumer(
    settings: Settings,
    work: WorkRepository,
    *,
    worker_id: str,
    lease: timedelta,
    clock: Callable[[], datetime],
) -> Consumer:
    """The worker's consumer: an nsqd reader found through nsqlookupd, or the db poller."""
    if settings.transport == "nsq":
        from harborctl.queue.nsq import NsqConsumer

        return NsqConsumer(
            topic=settings.deliveries_topic,
            channel=settings.worker_channel,
            lookupd_http_addresses=settings.nsqlookupd_http_addresses,
            max_in_flight=settings.worker_max_in_flight,
            lookupd_poll_interval=settings.nsq_lookupd_poll_interval,
        )
    from harborctl.queue.db import DbConsumer

    return DbConsumer(
        work,
        worker_id=worker_id,
        max_in_flight=settings.worker_max_in_flight,
        lease=lease,
        poll_interval=settings.worker_poll_interval,
        clock=clock,
    )
