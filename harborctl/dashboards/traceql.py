"""A strict checker of TraceQL queries, after Tempo's documented syntax (pure).

Tempo's parser (``pkg/traceql`` of grafana/tempo) is AGPL-3.0 and none is published on PyPI,
so this is a small recursive-descent parser of the grammar in Tempo's documentation
(``traceql``), for the spanset filters and spanset operators dashboards use::

    query      = spanset { "|" aggregate }
    spanset    = primary { ( "&&" | "||" | ">" | ">>" | "<" | "<<" | "~" | "!>" | "!>>"
                             | "!<" | "!<<" | "!~" ) primary }
    primary    = "{" [ expr ] "}" | "(" spanset ")"
    expr       = and_expr { "||" and_expr };   and_expr = unary { "&&" unary }
    unary      = "!" unary | "(" expr ")" | field op static | field      (a bare boolean)
    field      = intrinsic | scope "." name | "." name
    scope      = span | resource | event | link | instrumentation | trace | parent
    intrinsic  = name | status | statusMessage | duration | kind | rootName |
                 rootServiceName | traceDuration | span:name ... | event:name | link:traceID ...
    op         = "=" | "!=" | ">" | ">=" | "<" | "<=" | "=~" | "!~"
    static     = string | number | duration (1s, 200ms) | true | false | nil
                 | ok | error | unset | server | client | producer | consumer | internal
                 | unspecified
    aggregate  = ( count "(" ")" | ( avg | min | max | sum ) "(" field ")" ) op static
                 | select "(" field { "," field } ")" | by "(" field ")"

Checked beyond the grammar, as Tempo checks types: ``=~``/``!~`` take a string that compiles
as a regex; ``status`` compares with ok/error/unset, ``kind`` with a span kind, the durations
with a duration. ``check_traceql`` raises ``ValidationError`` naming the first problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harborctl.dashboards.logql import unquote
from harborctl.errors import ValidationError

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|`[^`]*`)
  | (?P<duration>\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)\b)
  | (?P<number>-?\d+(?:\.\d+)?\b)
  | (?P<op>&&|\|\||>>|<<|!>>|!<<|!>|!<|=~|!~|!=|>=|<=|=|>|<|!|~|\||\{|\}|\(|\)|,|\.)
  | (?P<word>[a-zA-Z_][a-zA-Z0-9_:]*)
    """,
    re.VERBOSE,
)
SCOPES = ("span", "resource", "event", "link", "instrumentation", "trace", "parent")
INTRINSICS = {
    "name": "string", "status": "status", "statusMessage": "string", "duration": "duration",
    "kind": "kind", "rootName": "string", "rootServiceName": "string",
    "traceDuration": "duration", "span:name": "string", "span:status": "status",
    "span:statusMessage": "string", "span:duration": "duration", "span:kind": "kind",
    "span:id": "string", "span:parentID": "string", "trace:rootName": "string",
    "trace:rootService": "string", "trace:duration": "duration", "trace:id": "string",
    "event:name": "string", "event:timeSinceStart": "duration", "link:traceID": "string",
    "link:spanID": "string", "instrumentation:name": "string",
    "instrumentation:version": "string",
}  # fmt: skip
STATUSES = ("ok", "error", "unset")
KINDS = ("server", "client", "producer", "consumer", "internal", "unspecified")
COMPARISONS = ("=", "!=", ">", ">=", "<", "<=", "=~", "!~")
SPANSET_OPS = ("&&", "||", ">", ">>", "<", "<<", "~", "!>", "!>>", "!<", "!<<", "!~")
AGGREGATES = ("avg", "min", "max", "sum")
# an attribute name after the scope's dot: letters, digits, _ - and inner dots
_ATTRIBUTE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_\-]*(?:\.[a-zA-Z_][a-zA-Z0-9_\-]*)*")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    at: int


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = self._tokenize()
        self.index = 0

    def _tokenize(self) -> list[Token]:
        tokens, at, query = [], 0, self.query
        while at < len(query):
            match = _TOKEN.match(query, at)
            if match is None:
                raise ValidationError("traceql", f"unexpected {query[at]!r} at {at} in {query!r}")
            kind = match.lastgroup or ""
            if kind == "op" and match.group(0) == ".":
                name = _ATTRIBUTE.match(query, at + 1)
                if name is None:
                    raise ValidationError(
                        "traceql", f"expected an attribute name after '.' at {at} in {query!r}"
                    )
                tokens.append(Token("attribute", name.group(0), at))
                at = name.end()
                continue
            if kind != "space":
                tokens.append(Token(kind, match.group(0), at))
            at = match.end()
        return tokens

    def fail(self, message: str) -> ValidationError:
        token = self.peek()
        where = f"at {token.at}" if token else "at the end"
        return ValidationError("traceql", f"{message} {where} in {self.query!r}")

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind in ("op", "word") and token.text in texts

    def take(self, *texts: str) -> Token:
        if not self.at(*texts):
            raise self.fail("expected " + " or ".join(repr(t) for t in texts))
        self.index += 1
        return self.tokens[self.index - 1]

    # grammar ---------------------------------------------------------------------------

    def query_(self) -> None:
        self.spanset()
        while self.at("|"):
            self.index += 1
            self.aggregate()
        if self.peek() is not None:
            raise self.fail("unexpected text")

    def spanset(self) -> None:
        self.primary()
        while self.at(*SPANSET_OPS):
            self.index += 1
            self.primary()

    def primary(self) -> None:
        if self.at("("):
            self.index += 1
            self.spanset()
            self.take(")")
            return
        self.take("{")
        if not self.at("}"):
            self.expr()
        self.take("}")

    def expr(self) -> None:
        self.and_expr()
        while self.at("||"):
            self.index += 1
            self.and_expr()

    def and_expr(self) -> None:
        self.unary()
        while self.at("&&"):
            self.index += 1
            self.unary()

    def unary(self) -> None:
        if self.at("!"):
            self.index += 1
            self.unary()
            return
        if self.at("("):
            self.index += 1
            self.expr()
            self.take(")")
            return
        kind = self.field()
        if self.at(*COMPARISONS):
            op = self.take(*COMPARISONS).text
            self.static(kind, op)

    def field(self) -> str:
        """The type of the field read: string, duration, status, kind or any."""
        token = self.peek()
        if token is None:
            raise self.fail("expected a field")
        if token.kind == "attribute":  # unscoped: .name
            self.index += 1
            return "any"
        if token.kind != "word":
            raise self.fail("expected a field")
        self.index += 1
        following = self.peek()
        if token.text in SCOPES and following is not None and following.kind == "attribute":
            self.index += 1
            return "any"
        if token.text in INTRINSICS:
            return INTRINSICS[token.text]
        self.index -= 1
        raise self.fail(f"{token.text!r} is not an intrinsic nor a scoped attribute")

    def static(self, kind: str, op: str) -> None:
        token = self.peek()
        if token is None:
            raise self.fail("expected a value")
        self.index += 1
        if op in ("=~", "!~"):
            if token.kind != "string":
                raise self.fail(f"{op} needs a string")
            pattern = unquote(token.text)
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValidationError(
                    "traceql", f"regex {pattern!r} does not compile ({exc}) in {self.query!r}"
                ) from exc
            if kind not in ("string", "any"):
                raise self.fail(f"a {kind} cannot be matched with a regex")
            return
        allowed = {
            "string": ("string",),
            "duration": ("duration",),
            "status": ("status",),
            "kind": ("kind",),
            "any": ("string", "number", "duration", "bool", "nil", "status", "kind"),
        }[kind]
        if token.kind == "word":
            word = token.text
            value = (
                "status" if word in STATUSES
                else "kind" if word in KINDS
                else "bool" if word in ("true", "false")
                else "nil" if word == "nil"
                else None
            )  # fmt: skip
            if value is None:
                raise ValidationError("traceql", f"{word!r} is not a value in {self.query!r}")
        else:
            value = token.kind
        if value not in allowed:
            raise ValidationError(
                "traceql", f"a {kind} field compared with a {value} in {self.query!r}"
            )
        unordered = value in ("bool", "nil", "status", "kind") or (
            value == "string" and kind not in ("string", "any")
        )
        if op not in ("=", "!=") and unordered:
            raise ValidationError("traceql", f"{op} does not order a {value} in {self.query!r}")

    def aggregate(self) -> None:
        if self.at("count"):
            self.index += 1
            self.take("(")
            self.take(")")
            self.take(*COMPARISONS)
            self.static("any", "=")
        elif self.at(*AGGREGATES):
            self.index += 1
            self.take("(")
            kind = self.field()
            self.take(")")
            op = self.take(*COMPARISONS).text
            self.static(kind, op)
        elif self.at("select", "by"):
            many = self.take("select", "by").text == "select"
            self.take("(")
            self.field()
            while many and self.at(","):
                self.index += 1
                self.field()
            self.take(")")
        else:
            self.spanset()


def check_traceql(query: str) -> None:
    """Raise ValidationError unless ``query`` is a well-formed TraceQL query."""
    _Parser(query).query_()
