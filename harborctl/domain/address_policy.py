"""Which addresses a webhook may be delivered to: the outbound request guard's rule.

By default no delivery goes to an address that is not globally routable unicast: loopback,
private (RFC 1918), link-local (including the cloud metadata address 169.254.169.254),
shared/CGNAT space, multicast, unspecified, documentation, benchmarking or reserved ranges,
in IPv4 or IPv6. IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
IPv4-compatible ``::a.b.c.d``, the NAT64 well-known prefix ``64:ff9b::/96``, 6to4
``2002::/16``) are judged by the IPv4 address they carry. An allowlist of CIDRs opens ranges
deliberately (a local stack allows loopback).

The ranges are written out here, not taken from :mod:`ipaddress`'s ``is_private`` /
``is_global``, whose tables changed between Python releases. Sources: the IANA IPv4 and
IPv6 Special-Purpose Address Registries (RFC 6890 and updates), RFC 1918, RFC 6598
(100.64.0.0/10), RFC 3927 (169.254.0.0/16), RFC 5771 (multicast), RFC 4291, RFC 4193
(fc00::/7), RFC 6052 (64:ff9b::/96), RFC 8215 (64:ff9b:1::/48), RFC 3056 (2002::/16).

:func:`literal_address` reads a URL host the way the C resolver does, so ``2130706433``,
``0177.0.0.1``, ``0x7f.1`` and ``127.1`` are all 127.0.0.1. The guard itself is applied to
the address actually connected to (see the outbound client); this module is pure.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network / unspecified (RFC 791, RFC 6890)"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space / CGNAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    ("169.254.0.0/16", "link-local, cloud metadata (RFC 3927)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    ("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
    ("192.31.196.0/24", "AS112-v4 (RFC 7535)"),
    ("192.52.193.0/24", "AMT (RFC 7450)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("192.175.48.0/24", "direct delegation AS112 (RFC 7534)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    ("240.0.0.0/4", "reserved, broadcast (RFC 1112, RFC 919)"),
)
_V6_BLOCKED: tuple[tuple[str, str], ...] = (
    ("::/128", "unspecified (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation (RFC 8215)"),
    ("100::/64", "discard-only (RFC 6666)"),
    ("2001::/23", "IETF protocol assignments, Teredo (RFC 2928, RFC 4380)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "segment routing SIDs (RFC 9602)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local (RFC 4291)"),
    ("fec0::/10", "deprecated site-local (RFC 3879)"),
    ("ff00::/8", "multicast (RFC 4291)"),
)
# IPv6 prefixes that carry an IPv4 address: judged by that address
_V4_IN_V6: tuple[tuple[IPNetwork, str], ...] = (
    (ipaddress.ip_network("::ffff:0:0/96"), "IPv4-mapped"),
    (ipaddress.ip_network("::/96"), "IPv4-compatible"),
    (ipaddress.ip_network("64:ff9b::/96"), "NAT64"),
)
_BLOCKED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(cidr), why) for cidr, why in (*_V4_BLOCKED, *_V6_BLOCKED)
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether ``address`` may be connected to; ``reason`` names the range when it may not."""

    address: IPAddress
    allowed: bool
    reason: str | None = None


def parse_cidrs(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["127.0.0.0/8", "::1"]`` → networks; raises ValueError naming the bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a CIDR (e.g. 10.0.0.0/8 or fd00::/8)") from exc
    return tuple(networks)


_NOT_V4_CARRIERS = (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1"))


def _embedded_v4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and the form that carries it."""
    if address in _NOT_V4_CARRIERS:
        return None
    for network, form in _V4_IN_V6:
        if address in network:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), form
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    return None


def judge(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> Verdict:
    """The verdict for one address. Allowlisted networks win over every blocked range."""
    if any(address.version == net.version and address in net for net in allow):
        return Verdict(address, True)
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            inner, form = embedded
            verdict = judge(inner, allow)
            if verdict.allowed:
                return Verdict(address, True)
            return Verdict(address, False, f"{form} form of {inner}: {verdict.reason}")
    for network, why in _BLOCKED:
        if address.version == network.version and address in network:
            return Verdict(address, False, f"{address} is {why}")
    return Verdict(address, True)


def blocked_literal(url: str, allow: Sequence[IPNetwork] = ()) -> Verdict | None:
    """The refusing verdict when ``url``'s host is an address literal (in any spelling) the
    policy blocks; None for names (judged when connecting) and for allowed addresses."""
    host = urlsplit(url).hostname
    address = literal_address(host) if host else None
    if address is None:
        return None
    verdict = judge(address, allow)
    return None if verdict.allowed else verdict


def literal_address(host: str) -> IPAddress | None:
    """The address a URL host spells, read as the C resolver reads it, or None for a name.

    ``[::1]`` and ``::1`` are IPv6; ``2130706433``, ``0177.0.0.1``, ``0x7f.0.0.1``, ``127.1``
    are IPv4 (inet_aton forms: decimal, octal and hex parts, 1 to 4 of them).
    """
    bare = host.strip("[]")
    if "%" in bare:  # an IPv6 zone id (fe80::1%eth0)
        bare = bare.split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if not bare or not all(c.isalnum() or c == "." for c in bare):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError:
        return None
