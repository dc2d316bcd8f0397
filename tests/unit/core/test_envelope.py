from __future__ import annotations

import json

import pytest

from harborctl.errors import ValidationError
from harborctl.queue.envelope import DeliveryMessage, dead_letter_body


def test_round_trip_carries_the_trace_context() -> None:
    message = DeliveryMessage(
        "dlv_1",
        "evt_1",
        "ten_1",
        "ep_1",
        {"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    )
    raw = message.encode()
    assert json.loads(raw)["v"] == 1
    assert DeliveryMessage.decode(raw) == message


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"not json", "message"),
        (b'{"v": 1, "delivery_id": "\xff\xfe"}', "message"),  # not UTF-8
        (b"", "message"),
        (b'{"v": 2, "delivery_id": "x"}', "v"),
        (b'{"v": 1, "event_id": "e", "tenant_id": "t", "endpoint_id": "p"}', "delivery_id"),
    ],
)
def test_bad_messages_are_refused_naming_what_is_wrong(raw: bytes, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DeliveryMessage.decode(raw)
    assert caught.value.field == field


def test_dead_letter_body_names_the_reason() -> None:
    body = json.loads(dead_letter_body(DeliveryMessage("d", "e", "t", "p"), "http_5xx", 500, "x"))
    assert body["reason"] == "http_5xx" and body["delivery_id"] == "d"
    assert body["last_http_status"] == 500
