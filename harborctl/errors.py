"""One exception tree for the whole project.

::

    HarborHookError
     ├── ConfigError            a setting is missing or invalid (names the setting)
     ├── ValidationError        bad input from a user; names the field
     │    └── PayloadTooLarge   body over the configured limit
     ├── NotFound               the object does not exist for this tenant
     ├── Conflict               the request collides with existing state
     ├── Unauthorized           missing or unknown API key
     ├── StoreError             the database failed
     ├── Overloaded             too much waiting already: retry later (503 + Retry-After)
     ├── TransportError         the queue (nsqd) failed
     ├── ApiError               the ingest API answered an error (CLI side)
     ├── StackError             starting/stopping the local stack failed
     │    └── EngineUnavailable no Docker engine answers (the compose stack needs one)
     └── ServiceError           an ops service (Alertmanager, ...) unreachable or refusing

Adapters translate third-party exceptions into these; the CLI maps them to one line
and an exit code. A failed outbound webhook POST is not an exception: the outbound adapter
reports it as the domain's ``AttemptResult`` with a ``FailureReason``.
"""

from __future__ import annotations


class HarborHookError(Exception):
    """Base of every error HarborHook raises on purpose."""

    exit_code: int = 1


class ConfigError(HarborHookError):
    exit_code = 2

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class ValidationError(HarborHookError):
    exit_code = 2
    status_code = 422
    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class PayloadTooLarge(ValidationError):
    status_code = 413
    code = "payload_too_large"


class NotFound(HarborHookError):
    exit_code = 4

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident


class Conflict(HarborHookError):
    exit_code = 5


class Unauthorized(HarborHookError):
    exit_code = 3


class StoreError(HarborHookError):
    pass


class Overloaded(HarborHookError):
    """More work is waiting than can be done in time; nothing of this request was done.

    Answered as 503 with ``Retry-After: retry_after`` (seconds): retrying later is safe.
    """

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransportError(HarborHookError):
    pass


class ApiError(HarborHookError):
    """The ingest API answered with an error (seen from the CLI)."""

    def __init__(self, status_code: int, code: str, message: str, field: str | None = None) -> None:
        where = f" (field: {field})" if field else ""
        super().__init__(f"{message}{where} [HTTP {status_code} {code}]")
        self.status_code = status_code
        self.code = code
        self.field = field
        fallback = 2 if status_code < 500 else 1
        self.exit_code = {401: 3, 403: 3, 404: 4, 409: 5}.get(status_code, fallback)


class StackError(HarborHookError):
    pass


class EngineUnavailable(StackError):
    """No Docker engine answers ``docker info``: the compose stack cannot run here."""

    exit_code = 69  # EX_UNAVAILABLE (sysexits.h): a service needed is unavailable


class ServiceError(HarborHookError):
    """An ops service (Alertmanager, Prometheus) is unreachable or refused a request."""
