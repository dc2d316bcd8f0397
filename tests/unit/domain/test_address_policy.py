"""The outbound request guard's rule: every spelling of a blocked address is blocked."""

from __future__ import annotations

import ipaddress
import re

import pytest

from harborctl.domain.address_policy import judge, literal_address, parse_cidrs

BLOCKED_HOSTS = [
    "127.0.0.1",
    "127.1",
    "2130706433",  # decimal
    "0177.0.0.1",  # octal
    "0x7f.0.0.1",  # hex
    "0x7f000001",
    "0",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "0xa9.0xfe.0xa9.0xfe",
    "100.64.0.1",  # CGNAT
    "224.0.0.251",  # multicast
    "239.255.255.250",
    "255.255.255.255",
    "240.0.0.1",
    "192.0.2.10",
    "198.18.0.1",
    "[::1]",
    "::",
    "[::ffff:127.0.0.1]",  # IPv4-mapped
    "::ffff:a9fe:a9fe",
    "[::127.0.0.1]",  # IPv4-compatible
    "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
    "[64:ff9b::10.0.0.1]",
    "[64:ff9b:1::1]",
    "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
    "[fe80::1]",
    "fe80::1%eth0",
    "[fd00::1]",
    "[fc00::1]",
    "[ff02::1]",
    "[2001:db8::1]",
    "[100::1]",
]
ALLOWED_HOSTS = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "[2606:4700::1111]", "[64:ff9b::808:808]"]


@pytest.mark.parametrize("host", BLOCKED_HOSTS)
def test_every_spelling_of_a_blocked_address_is_blocked(host: str) -> None:
    address = literal_address(host)
    assert address is not None, host
    verdict = judge(address)
    assert not verdict.allowed
    assert verdict.reason and "RFC" in verdict.reason


@pytest.mark.parametrize("host", ALLOWED_HOSTS)
def test_global_unicast_is_allowed(host: str) -> None:
    address = literal_address(host)
    assert address is not None
    assert judge(address).allowed


@pytest.mark.parametrize(
    "host", ["example.com", "localhost", "hooks.example", "1e10", "10.0.0.1.nip.io"]
)
def test_names_are_not_literals(host: str) -> None:
    assert literal_address(host) is None


def test_the_allowlist_opens_a_range_and_its_embedded_forms() -> None:
    allow = parse_cidrs(["127.0.0.0/8", "::1/128"])
    assert judge(ipaddress.ip_address("127.0.0.1"), allow).allowed
    assert judge(ipaddress.ip_address("::1"), allow).allowed
    assert judge(ipaddress.ip_address("::ffff:127.0.0.1"), allow).allowed
    assert not judge(ipaddress.ip_address("10.0.0.1"), allow).allowed
    assert not judge(ipaddress.ip_address("169.254.169.254"), allow).allowed


def test_parse_cidrs_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        parse_cidrs(["10.0.0.0/8", "10.0.0.0/33"])
