"""Path grammar and per-request decisions of the scripted receiver (pure)."""

from __future__ import annotations

import pytest

from harborctl.errors import NotFound, ValidationError
from harborctl.receiver.behaviours import Behaviour, Decision, Kind, decide, parse


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/ok", Behaviour(Kind.OK)),
        ("/ok/", Behaviour(Kind.OK)),
        ("/hang", Behaviour(Kind.HANG)),
        ("/fail/2", Behaviour(Kind.FAIL, count=2, status=500)),
        ("/fail/0", Behaviour(Kind.FAIL, count=0, status=500)),
        ("/flaky/1", Behaviour(Kind.FLAKY, count=1, status=500)),
        ("/status/429", Behaviour(Kind.STATUS, status=429)),
        ("/slow/0.25", Behaviour(Kind.SLOW, seconds=0.25)),
        ("/slow/3", Behaviour(Kind.SLOW, seconds=3.0)),
        ("/tenant-a/fail/2", Behaviour(Kind.FAIL, label="tenant-a", count=2, status=500)),
        ("/a/b/c/ok", Behaviour(Kind.OK, label="a/b/c")),
        # the behaviour is the tail, so keywords inside the label are just label text
        ("/fail/2/ok", Behaviour(Kind.OK, label="fail/2")),
        ("/status/ok", Behaviour(Kind.OK, label="status")),
        ("/ok/status/503", Behaviour(Kind.STATUS, label="ok", status=503)),
    ],
)
def test_parse_selects_behaviour_from_path_tail(path: str, expected: Behaviour) -> None:
    assert parse(path) == expected


@pytest.mark.parametrize("path", ["/", "", "/hooks/x", "/ok/500", "/fail", "/status", "/okay"])
def test_parse_unknown_path_is_not_found(path: str) -> None:
    with pytest.raises(NotFound):
        parse(path)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/fail/x", "fail"),
        ("/fail/-1", "fail"),
        ("/flaky/x", "flaky"),
        ("/status/99", "status"),
        ("/status/600", "status"),
        ("/status/abc", "status"),
        ("/slow/-1", "slow"),
        ("/slow/nan", "slow"),
        ("/slow/inf", "slow"),
        ("/slow/soon", "slow"),
    ],
)
def test_parse_rejects_bad_arguments(path: str, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse(path)
    assert info.value.field == field


def test_parse_options() -> None:
    behaviour = parse("/fail/3", {"status": "503", "retry_after": "2"})
    assert behaviour == Behaviour(Kind.FAIL, count=3, status=503, retry_after="2")
    http_date = "Wed, 21 Oct 2015 07:28:00 GMT"
    assert parse("/status/429", {"retry_after": http_date}).retry_after == http_date
    # unknown query parameters are ignored
    assert parse("/ok", {"token": "abc"}) == Behaviour(Kind.OK)


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/fail/1", {"status": "200"}, "status"),  # a failing status must not be 2xx
        ("/fail/1", {"status": "x"}, "status"),
        ("/fail/1", {"retry_after": "soon"}, "retry_after"),
        ("/status/500", {"status": "503"}, "status"),  # option not for this behaviour
        ("/ok", {"retry_after": "1"}, "retry_after"),
        ("/slow/1", {"status": "500"}, "status"),
    ],
)
def test_parse_rejects_bad_or_misplaced_options(
    path: str, query: dict[str, str], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse(path, query)
    assert info.value.field == field


def test_fail_n_fails_first_n_then_succeeds() -> None:
    behaviour = parse("/fail/2")
    assert [decide(behaviour, n).status for n in (1, 2, 3, 4)] == [500, 500, 200, 200]


def test_flaky_fails_the_first_n_requests_it_is_given() -> None:
    flaky = parse("/flaky/2", {"status": "503"})
    assert [decide(flaky, n).status for n in (1, 2, 3, 4)] == [503, 503, 200, 200]


def test_fail_with_status_and_retry_after_only_on_failures() -> None:
    behaviour = parse("/fail/1", {"status": "503", "retry_after": "2"})
    assert decide(behaviour, 1) == Decision(503, headers={"Retry-After": "2"})
    assert decide(behaviour, 2) == Decision(200)


def test_status_slow_hang_ok() -> None:
    assert decide(parse("/status/429", {"retry_after": "3"}), 7) == Decision(
        429, headers={"Retry-After": "3"}
    )
    assert decide(parse("/slow/0.5"), 1) == Decision(200, delay=0.5)
    assert decide(parse("/hang"), 1).hang
    assert decide(parse("/ok"), 1) == Decision(200)


def test_invalid_signature_turns_success_into_401_but_keeps_scripted_failures() -> None:
    assert decide(parse("/ok"), 1, signature_valid=False).status == 401
    assert decide(parse("/slow/1"), 1, signature_valid=False) == Decision(401, delay=1.0)
    assert decide(parse("/fail/1"), 1, signature_valid=False).status == 500
    assert decide(parse("/fail/1"), 2, signature_valid=False).status == 401
    assert decide(parse("/status/503"), 1, signature_valid=False).status == 503
    assert decide(parse("/status/204"), 1, signature_valid=False).status == 401
    assert decide(parse("/hang"), 1, signature_valid=False).hang
    # no secret (None) and a valid signature leave the answer alone
    assert decide(parse("/ok"), 1, signature_valid=None).status == 200
    assert decide(parse("/ok"), 1, signature_valid=True).status == 200


def test_401_does_not_carry_the_scripted_retry_after() -> None:
    decision = decide(parse("/fail/1", {"retry_after": "5"}), 2, signature_valid=False)
    assert decision == Decision(401)


def test_decide_is_one_based() -> None:
    with pytest.raises(ValueError):
        decide(parse("/ok"), 0)


def test_stream_and_trickle_answer_200_with_a_generated_body() -> None:
    stream = parse("/big/stream/600")
    assert (stream.kind.value, stream.label, stream.body_bytes) == ("stream", "big", 600 << 20)
    answer = decide(stream, 1)
    assert (answer.status, answer.body_bytes, answer.byte_interval) == (200, 600 << 20, 0.0)
    trickle = decide(parse("/trickle/5"), 1)
    assert (trickle.status, trickle.body_bytes, trickle.byte_interval) == (200, 5, 1.0)


def test_location_is_added_to_status_answers_only() -> None:
    answer = decide(parse("/status/302", {"location": "http://x/y"}), 1)
    assert answer.status == 302 and answer.headers["Location"] == "http://x/y"
    with pytest.raises(ValidationError):
        parse("/ok", {"location": "http://x/y"})


@pytest.mark.parametrize("path", ["/stream/0", "/stream/4097", "/trickle/0", "/trickle/x"])
def test_stream_and_trickle_sizes_are_bounded(path: str) -> None:
    with pytest.raises(ValidationError):
        parse(path)
