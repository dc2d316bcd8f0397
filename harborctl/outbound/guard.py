"""The outbound request guard: no webhook connection to an address the policy blocks.

The check runs where the connection is made, on the address actually connected to: aiohttp
hands every socket it opens to :meth:`ConnectGuard.socket_factory` with the resolved
address, after DNS, for literal IPs and names alike. A name that resolves to a blocked
address (including one whose DNS answer changed after the endpoint was created: rebinding)
is refused there, before any byte is sent. The rule itself is
:mod:`harborctl.domain.address_policy`.

Which verdicts refused a request is collected per request in a context variable, so the
outbound client can tell "blocked" from "refused by the peer" whatever aiohttp and its
happy-eyeballs helper make of the error.
"""

from __future__ import annotations

import errno
import functools
import ipaddress
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from harborctl.domain.address_policy import IPNetwork, Verdict, blocked_literal, judge

_refused: ContextVar[list[Verdict] | None] = ContextVar("harborhook_refused", default=None)


class BlockedAddress(OSError):
    """Raised instead of creating a socket to a blocked address (``EACCES``)."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(errno.EACCES, f"blocked by the outbound request guard: {verdict.reason}")
        self.verdict = verdict


class ConnectGuard:
    """The socket factory aiohttp's connector calls for each address it connects to."""

    def __init__(self, allow: Sequence[IPNetwork] = ()) -> None:
        self.allow = tuple(allow)

    def check_literal(self, url: str) -> None:
        """Refuse a URL whose host is a blocked address literal in any spelling
        (``127.1``, ``2130706433``, ``0x7f.0.0.1``...), before any parsing by aiohttp."""
        verdict = _literal_verdict(url, self.allow)
        if verdict is not None:
            _note(verdict)
            raise BlockedAddress(verdict)

    def socket_factory(self, addr_info: tuple[Any, ...]) -> socket.socket:
        """``(family, type, proto, canonname, sockaddr)`` → a new socket, unless blocked."""
        family, kind, proto, _canonname, sockaddr = addr_info
        host = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 scope id is not part of the address
        verdict = judge(ipaddress.ip_address(host), self.allow)
        if not verdict.allowed:
            _note(verdict)
            raise BlockedAddress(verdict)
        return socket.socket(family, kind, proto)


@functools.lru_cache(maxsize=4096)
def _literal_verdict(url: str, allow: tuple[IPNetwork, ...]) -> Verdict | None:
    """blocked_literal, remembered per URL: endpoints' URLs repeat on every attempt."""
    return blocked_literal(url, allow)


def _note(verdict: Verdict) -> None:
    refused = _refused.get()
    if refused is not None:
        refused.append(verdict)


@contextmanager
def refusals() -> Iterator[list[Verdict]]:
    """Collect the guard's refusals made while the block runs (for one request)."""
    collected: list[Verdict] = []
    token = _refused.set(collected)
    try:
        yield collected
    finally:
        _refused.reset(token)
