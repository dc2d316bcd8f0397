"""Alertmanager's label matchers: parsed, checked, matched, and in the API's shape (pure).

A matcher is ``name op value`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``, as in
alertmanager.yml's ``matchers:`` lists and ``amtool``: ``severity="page"``,
``alertname=~"HarborHook.*"``, ``area!=test``. The value may be double-quoted (``\\"`` and
``\\\\`` escapes inside). Rules from Alertmanager 0.25 (``pkg/labels/matcher.go``,
``silence/silence.go`` ``validateSilence``):

- a label name is ``[a-zA-Z_][a-zA-Z0-9_]*``;
- a regular expression is anchored at both ends (``^(?:value)$``); a label that is not set
  matches as the empty string;
- a silence needs at least one matcher that does not match the empty string.

Regular expressions are Go RE2 in Alertmanager and Python ``re`` here; the common subset
(classes, alternation, repetition, anchors) means the same in both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harborctl.errors import ValidationError

Op = Literal["=", "!=", "=~", "!~"]
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_MATCHER = re.compile(r"^\s*([^=!~\s]+)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        return self.op in ("=", "=~")

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set matches (an unset label is the empty string)."""
        value = labels.get(self.name, "")
        if self.is_regex:
            hit = re.fullmatch(self.value, value, re.DOTALL) is not None
        else:
            hit = value == self.value
        return hit if self.is_equal else not hit

    def matches_empty(self) -> bool:
        return self.matches({})

    def to_api(self) -> dict[str, Any]:
        """The API v2 ``matcher`` object."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Matcher:
        regex = bool(data.get("isRegex"))
        equal = bool(data.get("isEqual", True))
        op: Op = ("=~" if equal else "!~") if regex else ("=" if equal else "!=")
        return cls(str(data["name"]), op, str(data["value"]))

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_matcher(text: str, option: str = "--matcher") -> Matcher:
    """``name op value`` as a Matcher; ValidationError naming ``option`` when it is not one."""
    found = _MATCHER.match(text)
    if not found:
        raise ValidationError(
            option,
            f"{option}: {text!r} is not a matcher (name=value, name!=value, "
            "name=~regex or name!~regex)",
        )
    name, op, raw = found.groups()
    if not LABEL_NAME.match(name):
        raise ValidationError(
            option, f"{option}: {name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)"
        )
    matcher = Matcher(name, op, _unquote(raw))  # type: ignore[arg-type]
    if matcher.is_regex:
        try:
            re.compile(matcher.value)
        except re.error as exc:
            raise ValidationError(
                option, f"{option}: {matcher.value!r} is not a regular expression ({exc})"
            ) from exc
    return matcher


def label_value(option: str, value: str) -> str:
    """A label value as given on the command line: not empty, no control characters."""
    if not value.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValidationError(option, f"{option}: {value!r} is not a label value")
    return value
