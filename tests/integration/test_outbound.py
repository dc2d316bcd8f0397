"""The outbound webhook client against a real receiver on loopback: every way an attempt can
end gives one recorded outcome, the status line decides, the body costs neither memory nor
time, and the outbound request guard refuses blocked addresses however they are spelled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from harborctl.domain.address_policy import parse_cidrs
from harborctl.domain.attempt import AttemptResult
from harborctl.domain.models import FailureReason
from harborctl.outbound.http import EXCERPT_BYTES, WebhookClient
from harborctl.receiver.server import running_receiver

LOOPBACK = parse_cidrs(["127.0.0.0/8", "::1/128"])
BODY = b'{"n":1}'


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    with running_receiver() as url:
        yield url


def post(
    url: str,
    *,
    allow: tuple[object, ...] = LOOPBACK,
    total_timeout: float = 3.0,
    headers: dict[str, str] | None = None,
) -> AttemptResult:
    async def main() -> AttemptResult:
        client = WebhookClient(
            connect_timeout=1.0,
            total_timeout=total_timeout,
            max_connections=4,
            allow=allow,  # type: ignore[arg-type]
        )
        await client.start()
        try:
            return await client.post(url, BODY, headers or {"Content-Type": "application/json"})
        finally:
            await client.close()

    return asyncio.run(main())


def test_a_200_is_delivered(receiver: str) -> None:
    result = post(f"{receiver}/ok")
    assert result.ok and result.reason is None and result.response_excerpt is None


def test_an_error_answer_keeps_the_start_of_its_body(receiver: str) -> None:
    result = post(f"{receiver}/status/400")
    assert result.http_status == 400 and result.reason is FailureReason.HTTP_4XX
    assert result.response_excerpt is not None
    assert b'"status": 400' in result.response_excerpt or b'"status":400' in result.response_excerpt


def test_a_200_then_a_body_one_byte_a_second_is_delivered_at_once(receiver: str) -> None:
    """It used to be recorded as a timeout, POSTed again and finally dead, although the
    receiver had accepted every attempt."""
    began = time.monotonic()
    result = post(f"{receiver}/trickle/600", total_timeout=3.0)
    assert result.ok, result
    assert time.monotonic() - began < 3.0


def test_a_200_then_a_huge_body_is_delivered_without_reading_it(receiver: str) -> None:
    """A receiver streaming 600 MB after its 200 grew the worker to 1.3 GB."""
    began = time.monotonic()
    result = post(f"{receiver}/stream/600")
    assert result.ok, result
    assert time.monotonic() - began < 3.0  # 600 MiB would take far longer to read


def test_a_huge_error_body_is_cut_to_the_excerpt(receiver: str) -> None:
    result = post(f"{receiver}/status/503?retry_after=7")
    assert result.retry_after == "7"
    assert result.response_excerpt is not None
    assert len(result.response_excerpt) <= EXCERPT_BYTES


def test_redirects_are_not_followed(receiver: str) -> None:
    landed = f"{receiver}/landed/ok"
    result = post(f"{receiver}/status/302?location={landed}")
    assert result.http_status == 302 and result.reason is FailureReason.HTTP_OTHER


def test_no_answer_before_the_deadline_is_a_timeout(receiver: str) -> None:
    result = post(f"{receiver}/hang", total_timeout=0.5)
    assert result.http_status is None and result.reason is FailureReason.TIMEOUT


def test_a_refused_connection_is_a_connect_error() -> None:
    result = post("http://127.0.0.1:9/x")
    assert result.reason is FailureReason.CONNECT_ERROR


def test_an_exception_that_is_not_aiohttp_s_is_recorded_too(receiver: str) -> None:
    """Any exception used to escape the adapter: no attempt recorded, retried for ever."""
    result = post(f"{receiver}/ok", headers={"X-Bad": "line\r\nbreak"})
    assert result.http_status is None and result.reason is FailureReason.ERROR
    assert result.error


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "localhost", "[::1]"],
)
def test_every_spelling_of_loopback_is_blocked_when_not_allowed(receiver: str, host: str) -> None:
    port = urlsplit(receiver).port
    result = post(f"http://{host}:{port}/ok", allow=())
    assert result.reason is FailureReason.BLOCKED_ADDRESS, result
    assert result.error and "loopback" in result.error


def test_the_allowlist_opens_loopback(receiver: str) -> None:
    port = urlsplit(receiver).port
    assert post(f"http://localhost:{port}/ok").ok
    assert post(f"http://127.0.0.1:{port}/ok").ok
