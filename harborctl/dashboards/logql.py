"""A strict checker of LogQL log queries, after Loki's documented syntax (pure).

Loki's own parser (``pkg/logql/syntax`` of grafana/loki) is AGPL-3.0 and no LogQL parser is
published on PyPI, so this is a small recursive-descent parser of the grammar in Loki's
documentation (``query/log_queries``)::

    query       = selector { stage }
    selector    = "{" matcher { "," matcher } "}"        at least one matcher that does
    matcher     = label ( "=" | "!=" | "=~" | "!~" ) string    not match the empty string
    stage       = line_filter | "|" pipe
    line_filter = ( "|=" | "!=" | "|~" | "!~" | "|>" | "!>" ) string { "or" string }
    pipe        = "json" [ label "=" string { "," label "=" string } ]
                | "logfmt" { "--strict" | "--keep-empty" }
                | ( "regexp" | "pattern" ) string | "unpack" | "decolorize"
                | "line_format" string
                | "label_format" label "=" ( string | label ) { "," ... }
                | ( "drop" | "keep" ) label [ op string ] { "," ... }
                | label_filter
    label_filter = or_expr;  or_expr = and_expr { "or" and_expr }
    and_expr    = unary { ( "and" | "," ) unary }
    unary       = "(" or_expr ")" | label ( "=" | "!=" | "=~" | "!~" ) string
                | label ( "=" | "==" | "!=" | ">" | ">=" | "<" | "<=" ) number_or_duration

Strings are Go-quoted ("..." with backslash escapes) or raw (`...`); regexes (``=~``, ``!~``,
``|~``, ``!~``) must compile. Metric queries (``rate(...)``) are not log queries and are
refused. ``check_logql`` raises ``ValidationError`` naming the first problem and its position.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harborctl.errors import ValidationError

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
  | (?P<op>\|=|\|~|\|>|!=|!~|!>|=~|==|>=|<=|=|>|<|\||\{|\}|\(|\)|,)
  | (?P<number>-?\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d|w|y|b|kb|mb|gb|kib|mib|gib|[kmgt]i?b)?\b)
  | (?P<flag>--[a-z-]+)
  | (?P<ident>[a-zA-Z_][a-zA-Z0-9_]*)
    """,
    re.VERBOSE | re.IGNORECASE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v"}  # fmt: skip
LINE_FILTERS = ("|=", "!=", "|~", "!~", "|>", "!>")
MATCHERS = ("=", "!=", "=~", "!~")
NUMERIC_OPS = ("=", "==", "!=", ">", ">=", "<", "<=")
PARSERS_WITH_STRING = ("regexp", "pattern", "line_format")
KEYWORDS = ("json", "logfmt", "regexp", "pattern", "unpack", "decolorize", "line_format",
            "label_format", "drop", "keep", "and", "or")  # fmt: skip


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    at: int


def unquote(text: str) -> str:
    """The value of a Go string literal: "..." with escapes, or `raw`."""
    if text.startswith("`"):
        return text[1:-1]
    out, i, body = [], 0, text[1:-1]
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < len(body) else ""
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2 : i + 2 + size]
            if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"bad \\{nxt} escape")
            out.append(chr(int(digits, 16)))
            i += 2 + size
        elif nxt.isdigit():
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits):
                raise ValueError("bad octal escape")
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{nxt}")
    return "".join(out)


def tokenize(query: str) -> list[Token]:
    tokens, at = [], 0
    while at < len(query):
        match = _TOKEN.match(query, at)
        if match is None:
            raise ValidationError("logql", f"unexpected {query[at]!r} at {at} in {query!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(0), at))
        at = match.end()
    return tokens


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.index = 0

    # helpers ---------------------------------------------------------------------------

    def fail(self, message: str) -> ValidationError:
        token = self.peek()
        where = f"at {token.at}" if token else "at the end"
        return ValidationError("logql", f"{message} {where} in {self.query!r}")

    def peek(self, offset: int = 0) -> Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, kind: str | None = None, *texts: str) -> Token:
        token = self.peek()
        if token is None or (kind and token.kind != kind) or (texts and token.text not in texts):
            wanted = " or ".join(repr(t) for t in texts) if texts else kind
            raise self.fail(f"expected {wanted}")
        self.index += 1
        return token

    def kind_is(self, kind: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == kind

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("op", "ident") and token.text in texts

    def string(self, regex: bool = False) -> str:
        token = self.take("string")
        try:
            value = unquote(token.text)
        except ValueError as exc:
            raise self.fail(f"{exc} in {token.text}") from exc
        if regex:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValidationError(
                    "logql", f"regex {value!r} does not compile ({exc}) in {self.query!r}"
                ) from exc
        return value

    def label(self) -> str:
        token = self.take("ident")
        if token.text.lower() in ("and", "or"):
            raise self.fail(f"{token.text!r} is not a label name")
        return token.text

    # grammar ---------------------------------------------------------------------------

    def query_(self) -> None:
        self.selector()
        while self.peek() is not None:
            self.stage()

    def selector(self) -> None:
        self.take("op", "{")
        non_empty = False
        while True:
            self.label()
            op = self.take("op", *MATCHERS).text
            value = self.string(regex=op in ("=~", "!~"))
            if (op == "=" and value) or (op == "=~" and not re.fullmatch(value, "")):
                non_empty = True
            if self.at("}"):
                break
            self.take("op", ",")
        self.take("op", "}")
        if not non_empty:
            raise ValidationError(
                "logql",
                f"the stream selector needs a matcher that does not match the empty string "
                f"(Loki refuses it) in {self.query!r}",
            )

    def stage(self) -> None:
        token = self.peek()
        assert token is not None
        if token.text in LINE_FILTERS:
            self.index += 1
            self.string(regex=token.text in ("|~", "!~"))
            while self.at("or"):
                self.index += 1
                self.string(regex=token.text in ("|~", "!~"))
            return
        self.take("op", "|")
        word = self.peek()
        if word is None:
            raise self.fail("expected a stage after '|'")
        name = word.text.lower() if word.kind == "ident" else ""
        if name == "json":
            self.index += 1
            if self.kind_is("ident"):
                self.assignments(string_only=True)
        elif name == "logfmt":
            self.index += 1
            while self.kind_is("flag"):
                flag = self.take("flag")
                if flag.text not in ("--strict", "--keep-empty"):
                    raise self.fail(f"unknown logfmt flag {flag.text}")
        elif name in PARSERS_WITH_STRING:
            self.index += 1
            self.string(regex=name == "regexp")
        elif name in ("unpack", "decolorize"):
            self.index += 1
        elif name == "label_format":
            self.index += 1
            self.assignments(string_only=False)
        elif name in ("drop", "keep"):
            self.index += 1
            while True:
                self.label()
                if self.at(*MATCHERS):
                    op = self.take("op").text
                    self.string(regex=op in ("=~", "!~"))
                if not self.at(","):
                    break
                self.index += 1
        else:
            self.label_filter()

    def assignments(self, string_only: bool) -> None:
        while True:
            self.label()
            self.take("op", "=")
            token = self.peek()
            if token is not None and token.kind == "ident" and not string_only:
                self.index += 1
            else:
                self.string()
            if not self.at(","):
                return
            self.index += 1

    def label_filter(self) -> None:
        self.and_expr()
        while self.at("or"):
            self.index += 1
            self.and_expr()

    def and_expr(self) -> None:
        self.unary()
        while self.at("and") or (self.at(",") and self.peek(1) is not None):
            self.index += 1
            self.unary()

    def unary(self) -> None:
        if self.at("("):
            self.index += 1
            self.label_filter()
            self.take("op", ")")
            return
        self.label()
        op = self.take("op", *MATCHERS, *NUMERIC_OPS).text
        token = self.peek()
        if token is not None and token.kind == "string" and op in MATCHERS:
            self.string(regex=op in ("=~", "!~"))
        elif token is not None and token.kind == "number":
            self.index += 1
        else:
            raise self.fail(f"expected a string or a number after {op!r}")


_METRIC_QUERY = re.compile(r"^\s*[a-z_]+\s*(\(|by\b|without\b)")


def check_logql(query: str) -> None:
    """Raise ValidationError unless ``query`` is a well-formed LogQL log query."""
    if _METRIC_QUERY.match(query):
        raise ValidationError("logql", f"a metric query is not a log query: {query!r}")
    _Parser(query).query_()
