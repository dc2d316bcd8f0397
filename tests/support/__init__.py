"""Test helpers: real services on 127.0.0.1 (services.py) and deadline polling (wait.py)."""

from tests.support.services import (
    Nsqd,
    NsqdFactory,
    NsqLookupd,
    PostgresServer,
    ServiceStartError,
    free_port,
    free_ports,
    require_binary,
)
from tests.support.wait import wait_until, wait_until_async

__all__ = [
    "NsqLookupd",
    "Nsqd",
    "NsqdFactory",
    "PostgresServer",
    "ServiceStartError",
    "free_port",
    "free_ports",
    "require_binary",
    "wait_until",
    "wait_until_async",
]
