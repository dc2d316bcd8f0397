"""Strict JSON (RFC 8259) for event payloads, keeping the bytes the publisher sent.

A payload is what every receiver must be able to parse, so it is held to the RFC, not to
what Python's ``json`` module tolerates:

- ``NaN``, ``Infinity`` and ``-Infinity`` are refused (not JSON: RFC 8259 §6);
- numbers beyond IEEE 754 binary64 (``1e400``) are refused: most receivers read them as
  infinity or fail (RFC 8259 §6 lets implementations limit the range; binary64 is the
  range it names for interoperability); large integers and long fractions within it are
  kept exactly as sent, since the bytes are never re-encoded;
- a ``\\uD800``-style escape that is not half of a surrogate pair is refused (RFC 8259 §8.2:
  such a string cannot be UTF-8 encoded; receivers' strict parsers reject it);
- duplicate member names within one object are refused (RFC 8259 §4: "names SHOULD be
  unique"; receivers disagree on which value wins, so a signed body with duplicates means
  different things to different readers);
- nesting deeper than ``max_depth`` arrays/objects is refused;
- the text must be UTF-8 (RFC 8259 §8.1) without a byte order mark.

:func:`parse_members` reads a top-level object and returns each member's value together
with the exact bytes of its value in the document, so the ingest stores, signs and POSTs
the payload byte for byte. Pure: no I/O.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from harborctl.errors import ValidationError

DEFAULT_MAX_DEPTH = 64
_WHITESPACE = " \t\n\r"  # RFC 8259 §2: the only insignificant whitespace


class InvalidJson(ValidationError):
    """The text is not strict JSON; ``message`` says why and where (line and column)."""

    status_code = 400
    code = "invalid_json"


@dataclass(frozen=True, slots=True)
class Member:
    """One member of a top-level object: its decoded value and its value's exact bytes."""

    value: Any
    raw: bytes


class _Refused(ValueError):
    """Raised inside the decoder's hooks; carries the reason without a position."""


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not allowed in JSON (RFC 8259 §6)")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"duplicate member name {key!r} in one object")
            seen.add(key)
    return result


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Refused(f"number {text[:40]} is outside the IEEE 754 binary64 range")
    return value


_DECODER = json.JSONDecoder(
    parse_constant=_refuse_constant,
    parse_float=_finite_float,
    object_pairs_hook=_unique_members,
)


def _position(text: str, index: int) -> str:
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line} column {column}"


def _check_tree(value: Any, max_depth: int) -> str | None:
    """Why the decoded tree is refused (depth, lone surrogate), or None. Iterative."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, str):
            if not node.isascii() and not _encodable(node):
                return "a string holds a lone UTF-16 surrogate escape (RFC 8259 §8.2)"
        elif isinstance(node, dict):
            if depth >= max_depth:
                return f"nesting is deeper than {max_depth} levels"
            for key, item in node.items():
                if not key.isascii() and not _encodable(key):
                    return "a member name holds a lone UTF-16 surrogate escape (RFC 8259 §8.2)"
                pending.append((item, depth + 1))
        elif isinstance(node, list):
            if depth >= max_depth:
                return f"nesting is deeper than {max_depth} levels"
            pending.extend((item, depth + 1) for item in node)
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode_utf8(document: bytes, field: str) -> str:
    if document.startswith(b"\xef\xbb\xbf"):
        raise InvalidJson(field, f"{field}: starts with a byte order mark (RFC 8259 §8.1)")
    try:
        return document.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJson(
            field, f"{field}: not UTF-8 text (byte {exc.start}: {exc.reason}; RFC 8259 §8.1)"
        ) from exc


def _value_at(text: str, index: int, field: str, max_depth: int) -> tuple[Any, int]:
    """Decode one strict JSON value starting at ``index``; (value, end index)."""
    try:
        value, end = _DECODER.raw_decode(text, index)
    except json.JSONDecodeError as exc:
        raise InvalidJson(
            field, f"{field}: not valid JSON ({exc.msg} at {_position(text, exc.pos)})"
        ) from exc
    except _Refused as exc:
        raise InvalidJson(field, f"{field}: {exc} (near {_position(text, index)})") from exc
    except RecursionError as exc:
        raise InvalidJson(field, f"{field}: nesting is deeper than {max_depth} levels") from exc
    except ValueError as exc:  # int() beyond the interpreter's digit limit
        raise InvalidJson(field, f"{field}: {exc} (near {_position(text, index)})") from exc
    reason = _check_tree(value, max_depth)
    if reason is not None:
        raise InvalidJson(field, f"{field}: {reason} (in the value at {_position(text, index)})")
    return value, end


def _skip_whitespace(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def parse_strict(
    document: bytes, *, field: str = "payload", max_depth: int = DEFAULT_MAX_DEPTH
) -> Any:
    """Decode a whole document as strict JSON; raises InvalidJson naming ``field``."""
    text = _decode_utf8(document, field)
    start = _skip_whitespace(text, 0)
    if start == len(text):
        raise InvalidJson(field, f"{field}: empty, expected a JSON value")
    value, end = _value_at(text, start, field, max_depth)
    if _skip_whitespace(text, end) != len(text):
        raise InvalidJson(
            field, f"{field}: extra data after the JSON value at {_position(text, end)}"
        )
    return value


def parse_members(
    document: bytes,
    *,
    raw_member: str,
    field: str = "body",
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> dict[str, Member]:
    """The members of a top-level JSON object, each with its value's exact bytes.

    Errors inside the value of ``raw_member`` name ``raw_member`` (e.g. ``payload``); errors
    elsewhere name ``field``. Depth is counted from the top-level object. Raises InvalidJson
    (HTTP 400) for anything that is not strict JSON or not an object.
    """
    text = _decode_utf8(document, field)
    index = _skip_whitespace(text, 0)
    if text[index : index + 1] != "{":
        raise InvalidJson(field, f"{field}: must be a JSON object")
    index = _skip_whitespace(text, index + 1)
    members: dict[str, Member] = {}
    if text[index : index + 1] == "}":
        index += 1
    else:
        while True:
            if text[index : index + 1] != '"':
                raise InvalidJson(
                    field, f"{field}: expected a member name at {_position(text, index)}"
                )
            name, index = _value_at(text, index, field, 1)  # a JSON string
            if name in members:
                raise InvalidJson(field, f"{field}: duplicate member name {name!r}")
            index = _skip_whitespace(text, index)
            if text[index : index + 1] != ":":
                raise InvalidJson(field, f"{field}: expected ':' at {_position(text, index)}")
            start = _skip_whitespace(text, index + 1)
            owner = raw_member if name == raw_member else field
            value, end = _value_at(text, start, owner, max_depth - 1)
            members[name] = Member(value, text[start:end].encode("utf-8"))
            index = _skip_whitespace(text, end)
            if text[index : index + 1] == ",":
                index = _skip_whitespace(text, index + 1)
                continue
            if text[index : index + 1] == "}":
                index += 1
                break
            raise InvalidJson(field, f"{field}: expected ',' or '}}' at {_position(text, index)}")
    if _skip_whitespace(text, index) != len(text):
        raise InvalidJson(
            field, f"{field}: extra data after the JSON object at {_position(text, index)}"
        )
    return members
