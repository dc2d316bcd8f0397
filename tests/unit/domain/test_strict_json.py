"""Strict JSON for payloads: RFC 8259 only, and the payload's bytes kept exactly."""

from __future__ import annotations

import pytest

from harborctl.domain.strict_json import InvalidJson, parse_members, parse_strict


def _payload(body: bytes) -> bytes:
    return parse_members(body, raw_member="payload")["payload"].raw


def test_payload_bytes_survive_exactly_numbers_order_and_spacing() -> None:
    raw = (
        b'{"amount":10.10,"big":12345678901234567890.12,"id":9007199254740993.0,'
        b'"z":1, "a" : [1.0, -0.0, 1E+2], "s":"caf\\u00e9 \xc3\xa9 \\ud83d\\ude00"}'
    )
    body = b'{"event_type":"t.a",  "payload":  ' + raw + b' ,"idempotency_key":"k"}'
    members = parse_members(body, raw_member="payload")
    assert members["payload"].raw == raw
    assert members["event_type"].value == "t.a"
    assert members["idempotency_key"].raw == b'"k"'


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b'{"s":"\\ud800"}', "lone UTF-16 surrogate"),
        (b'{"s":"\\udc00x"}', "lone UTF-16 surrogate"),
        (b'["ok","\\ud83dx"]', "lone UTF-16 surrogate"),
        (b'{"\\ud800":1}', "lone UTF-16 surrogate"),
        (b'{"x":NaN}', "NaN is not allowed"),
        (b'{"y":1e400}', "binary64"),
        (b'{"y":-1e400}', "binary64"),
        (b'{"z":-Infinity}', "-Infinity is not allowed"),
        (b'{"z":Infinity}', "Infinity is not allowed"),
        (b'{"dup":{"k":1,"k":2}}', "duplicate member name 'k'"),
        (b"[" * 70 + b"]" * 70, "deeper than"),
        (b"[" * 100_000 + b"]" * 100_000, "deeper than"),
        (b'{"a":1,}', "not valid JSON"),
        (b"{'a':1}", "not valid JSON"),
        (b'{"a":"tab\tinside"}', "not valid JSON"),
        (b'{"a":01}', "not valid JSON"),
        (b'{"a":[1', "not valid JSON"),
        (b"1" * 5000, "digit"),
    ],
)
def test_what_strict_receivers_refuse_is_refused_naming_payload(payload: bytes, why: str) -> None:
    body = b'{"event_type":"t.a","payload":' + payload + b"}"
    with pytest.raises(InvalidJson) as caught:
        parse_members(body, raw_member="payload")
    assert caught.value.status_code == 400
    assert why in caught.value.message
    assert caught.value.field == "payload"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{not json",
        b"[1,2]",
        b'"payload"',
        b'{"payload":1} trailing',
        b'{"payload":1,"payload":2}',
        b"\xef\xbb\xbf{}",
        b'{"payload":"\xff"}',
        b'{"payload":1',
    ],
)
def test_a_broken_envelope_is_a_400_never_an_exception(body: bytes) -> None:
    with pytest.raises(InvalidJson) as caught:
        parse_members(body, raw_member="payload")
    assert caught.value.status_code == 400
    assert caught.value.field in ("body", "payload")


def test_depth_counts_from_the_envelope_and_the_limit_is_inclusive() -> None:
    ok = b"[" * 63 + b"]" * 63  # 63 levels inside the envelope object: 64 in all
    assert _payload(b'{"payload":' + ok + b"}") == ok
    with pytest.raises(InvalidJson):
        _payload(b'{"payload":[' + ok + b"]}")


def test_parse_strict_reads_a_whole_document() -> None:
    assert parse_strict(b' {"a": [1, 2.5, "x"]} \n') == {"a": [1, 2.5, "x"]}
    with pytest.raises(InvalidJson) as caught:
        parse_strict(b'{"x": NaN}', field="--data")
    assert caught.value.field == "--data"
    assert "line 1 column" in caught.value.message
    with pytest.raises(InvalidJson):
        parse_strict(b"  ")
    with pytest.raises(InvalidJson):
        parse_strict(b"1 2")
