from __future__ import annotations

import base64

import pytest

from harborctl.domain.signing import (
    SignatureError,
    decode_secret,
    generate_secret,
    sign,
    signature_headers,
    validate_secret,
    verify,
)
from harborctl.errors import ValidationError

# The example published with the Standard Webhooks specification.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330
BODY = b'{"test": 2432232314}'
EXPECTED = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(signature: str = EXPECTED, ts: int | str = TS) -> dict[str, str]:
    return {"webhook-id": MSG_ID, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_sign_matches_spec_example() -> None:
    assert sign(SECRET, MSG_ID, TS, BODY) == EXPECTED


def test_prefix_is_optional_for_signing() -> None:
    assert sign(SECRET.removeprefix("whsec_"), MSG_ID, TS, BODY) == EXPECTED


def test_signature_headers() -> None:
    assert signature_headers(SECRET, MSG_ID, TS, BODY) == {
        "webhook-id": MSG_ID,
        "webhook-timestamp": "1614265330",
        "webhook-signature": EXPECTED,
    }


def test_verify_accepts_spec_example() -> None:
    verify(SECRET, headers(), BODY, now=TS)


def test_verify_roundtrip_of_signature_headers() -> None:
    secret = generate_secret()
    hdrs = signature_headers(secret, "msg_1", 1_700_000_000, b"{}")
    verify(secret, hdrs, b"{}", now=1_700_000_000)


def test_verify_header_names_case_insensitive() -> None:
    hdrs = {"Webhook-Id": MSG_ID, "WEBHOOK-TIMESTAMP": str(TS), "Webhook-Signature": EXPECTED}
    verify(SECRET, hdrs, BODY, now=TS)


def test_verify_rejects_tampered_body() -> None:
    with pytest.raises(SignatureError) as info:
        verify(SECRET, headers(), b'{"test": 2432232315}', now=TS)
    assert info.value.field == "webhook-signature"


def test_verify_rejects_tampered_id() -> None:
    hdrs = headers() | {"webhook-id": "msg_other"}
    with pytest.raises(SignatureError):
        verify(SECRET, hdrs, BODY, now=TS)


def test_verify_rejects_wrong_secret() -> None:
    with pytest.raises(SignatureError):
        verify(generate_secret(), headers(), BODY, now=TS)


def test_verify_rejects_timestamp_reused_with_old_signature() -> None:
    # Moving the timestamp into the window without re-signing must fail.
    with pytest.raises(SignatureError):
        verify(SECRET, headers(ts=TS + 1000), BODY, now=TS + 1000)


@pytest.mark.parametrize("offset", [0, 300, -300])
def test_verify_accepts_within_tolerance(offset: int) -> None:
    verify(SECRET, headers(), BODY, now=TS + offset)


@pytest.mark.parametrize("offset, words", [(301, "too old"), (-301, "future")])
def test_verify_rejects_outside_tolerance(offset: int, words: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify(SECRET, headers(), BODY, now=TS + offset)
    assert info.value.field == "webhook-timestamp"
    assert words in str(info.value)


def test_verify_custom_tolerance() -> None:
    verify(SECRET, headers(), BODY, now=TS + 3000, tolerance_seconds=3600)
    with pytest.raises(SignatureError):
        verify(SECRET, headers(), BODY, now=TS + 10, tolerance_seconds=5)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_rejects_missing_header(missing: str) -> None:
    hdrs = headers()
    del hdrs[missing]
    with pytest.raises(SignatureError) as info:
        verify(SECRET, hdrs, BODY, now=TS)
    assert info.value.field == missing
    assert missing in str(info.value)


@pytest.mark.parametrize("bad_ts", ["", "abc", "1614265330.5", "-1614265330"])
def test_verify_rejects_malformed_timestamp(bad_ts: str) -> None:
    with pytest.raises(SignatureError) as info:
        verify(SECRET, headers(ts=bad_ts), BODY, now=TS)
    assert info.value.field == "webhook-timestamp"


def test_verify_accepts_any_of_several_signatures() -> None:
    other = sign(generate_secret(), MSG_ID, TS, BODY)
    verify(SECRET, headers(f"{other} {EXPECTED}"), BODY, now=TS)
    verify(SECRET, headers(f"{EXPECTED} {other}"), BODY, now=TS)
    verify(SECRET, headers(f"v1a,AAAA  {EXPECTED}"), BODY, now=TS)


def test_verify_rejects_when_none_of_several_match() -> None:
    other1 = sign(generate_secret(), MSG_ID, TS, BODY)
    other2 = sign(generate_secret(), MSG_ID, TS, BODY)
    with pytest.raises(SignatureError):
        verify(SECRET, headers(f"{other1} {other2}"), BODY, now=TS)


def test_verify_rejects_signature_with_wrong_version() -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, headers(EXPECTED.replace("v1,", "v2,")), BODY, now=TS)


def test_verify_rejects_non_ascii_signature_without_crashing() -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, headers("v1,é"), BODY, now=TS)


def test_signature_error_is_a_validation_error() -> None:
    assert issubclass(SignatureError, ValidationError)
    err = SignatureError("nope")
    assert err.field == "webhook-signature" and err.message == "nope"


def test_generate_secret_shape_and_uniqueness() -> None:
    s1, s2 = generate_secret(), generate_secret()
    assert s1 != s2
    assert s1.startswith("whsec_")
    assert len(decode_secret(s1)) == 24


def test_generate_secret_from_given_bytes() -> None:
    raw = bytes(range(24))
    secret = generate_secret(raw)
    assert secret == "whsec_" + base64.b64encode(raw).decode()
    assert decode_secret(secret) == raw


def test_decode_secret_spec_example() -> None:
    assert decode_secret(SECRET) == base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")


@pytest.mark.parametrize(
    "bad",
    [
        "whsec_",
        "",
        "whsec_not base64!",
        "whsec_abc",
        "whsec_é",
        "whsec_AQ==",  # a 1-byte key
        "whsec_AAAAAAAA",  # 6 bytes
        "AA==",
        "whsec_" + base64.b64encode(bytes(23)).decode(),
        "whsec_" + base64.b64encode(bytes(65)).decode(),
    ],
)
def test_validate_secret_rejects_bad_input(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_secret(bad)
    assert info.value.field == "secret"


def test_generate_secret_rejects_empty_bytes() -> None:
    with pytest.raises(ValidationError):
        generate_secret(b"")


@pytest.mark.parametrize("size", [24, 32, 64])
def test_secrets_of_24_to_64_bytes_are_accepted(size: int) -> None:
    raw = bytes(range(size))
    assert validate_secret(generate_secret(raw)) == raw


def test_a_short_stored_secret_still_signs() -> None:
    """Endpoints created before the 24-64 byte rule keep being delivered to."""
    assert sign("whsec_AQ==", MSG_ID, TS, BODY).startswith("v1,")
