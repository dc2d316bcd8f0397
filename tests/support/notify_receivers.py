"""Where Alertmanager sends notifications, stood in for as strictly as the real services.

A permissive stand-in hides exactly the bugs users hit, so each one refuses what the real
service refuses, the way it refuses it:

- ``SmtpServer`` (fixture ``smtp_server``): a mail server that REQUIRES AUTH before MAIL
  (530 5.7.0 otherwise), checks the exact username and password bytes (535 5.7.8 on a
  mismatch, as Postfix/Dovecot, Gmail and Exchange answer) and offers ``AUTH LOGIN PLAIN``
  with the ``Username:``/``Password:`` LOGIN challenges those servers send. Alertmanager
  authenticates only when AUTH is advertised, so this is what makes a wrong password
  visible. No TLS: Go's ``smtp.PlainAuth`` sends credentials in clear only to localhost,
  which 127.0.0.1 is. Parametrize it indirectly with ``"LOGIN"`` or ``"PLAIN"`` to offer one
  mechanism only.
- ``SlackWebhook`` (fixture ``slack_webhook``): Slack's incoming-webhook API: only the one
  configured ``/services/T../B../token`` path answers (an unknown service 404 ``no_service``,
  a wrong token 403 ``invalid_token``, an unknown channel 404 ``channel_not_found``), the body
  must be a JSON object (400 ``invalid_payload``) with ``text``, ``attachments`` or ``blocks``
  (400 ``no_text``); success is 200 ``ok``
  (https://api.slack.com/messaging/webhooks#handling_errors).
- ``WebhookRecorder`` (fixture ``webhook_recorder``): a receiver of Alertmanager's webhook
  JSON (version 4) at one path; any other path 404, anything that is not that JSON 400.

Each keeps what it accepted and what it refused, for the tests' assertions and messages.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web

from tests.support.aio_server import serving
from tests.support.services import free_port

SMTP_USERNAME = "harborhook@example.com"
SMTP_PASSWORD = "sm7p-pa55word-do-not-leak"
SLACK_TEAM, SLACK_BOT, SLACK_TOKEN = "T0HARBOR", "B0HOOK", "s3cr3tSlackToken"
WEBHOOK_PATH = "/alertmanager-hook"


# --- SMTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthAttempt:
    mechanism: str
    login: bytes
    password_matched: bool
    password_length: int


@dataclass
class SmtpServer:
    """A local mail server requiring AUTH with ``username``/``password``."""

    host: str
    port: int
    username: str
    password: str
    mechanisms: tuple[str, ...]
    messages: list[EmailMessage] = field(default_factory=list)
    auth_attempts: list[AuthAttempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def smarthost(self) -> str:
        return f"{self.host}:{self.port}"

    def received(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)

    def attempts(self) -> list[AuthAttempt]:
        with self.lock:
            return list(self.auth_attempts)

    def describe(self) -> str:
        """What happened so far, for a test's failure message (no password shown)."""
        subjects = [str(m["subject"]) for m in self.received()]
        return f"AUTH attempts {self.attempts()}; messages {subjects}"


def _smtp_controller(server: SmtpServer) -> Any:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

    class Handler:
        async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            with server.lock:
                server.messages.append(message)  # type: ignore[arg-type]
            return "250 2.0.0 Ok: queued"

    def authenticator(
        smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        matched = data.password == server.password.encode()
        ok = data.login == server.username.encode() and matched
        with server.lock:
            server.auth_attempts.append(
                AuthAttempt(mechanism, data.login, matched, len(data.password))
            )
        return AuthResult(success=ok, handled=False)  # not ok: 535 5.7.8

    class RealServerSMTP(SMTP):
        # the LOGIN challenges of Postfix/Dovecot, Gmail and Exchange (aiosmtpd's own
        # "User Name" is refused by Alertmanager's LOGIN client, as no real server sends it)
        AuthLoginUsernameChallenge = "Username:"
        AuthLoginPasswordChallenge = "Password:"

    excluded = [m for m in ("LOGIN", "PLAIN") if m not in server.mechanisms]

    class StrictController(Controller):  # type: ignore[misc]
        def factory(self) -> SMTP:
            with warnings.catch_warnings():  # AUTH without TLS: on loopback, on purpose
                warnings.simplefilter("ignore", UserWarning)
                return RealServerSMTP(
                    self.handler,
                    hostname="mail.example.com",
                    auth_required=True,
                    auth_require_tls=False,
                    auth_exclude_mechanism=excluded,
                    authenticator=authenticator,
                )

    return StrictController(Handler(), hostname=server.host, port=server.port)


@pytest.fixture
def smtp_server(request: pytest.FixtureRequest) -> Iterator[SmtpServer]:
    """A strict mail server; ``request.param`` (indirect) picks one AUTH mechanism."""
    mechanisms = (request.param,) if hasattr(request, "param") else ("LOGIN", "PLAIN")
    server = SmtpServer("127.0.0.1", free_port(), SMTP_USERNAME, SMTP_PASSWORD, mechanisms)
    controller = _smtp_controller(server)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# --- Slack ------------------------------------------------------------------------------------


@dataclass
class HttpLog:
    """What an HTTP stand-in accepted (JSON bodies) and refused (status, body)."""

    base_url: str = ""
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.accepted)

    def refusals(self) -> list[tuple[str, int, str]]:
        with self.lock:
            return list(self.refused)

    def describe(self) -> str:
        return f"accepted {self.bodies()}; refused {self.refusals()}"

    def _refuse(self, path: str, status: int, text: str) -> web.Response:
        with self.lock:
            self.refused.append((path, status, text))
        return web.Response(status=status, text=text)

    def _accept(self, body: dict[str, Any], text: str = "ok") -> web.Response:
        with self.lock:
            self.accepted.append(body)
        return web.Response(text=text)


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.read())
    except (UnicodeDecodeError, ValueError):
        return None
    return body if isinstance(body, dict) else None


@dataclass
class SlackWebhook(HttpLog):
    """Slack's incoming webhook for one app in one workspace; ``url`` is its secret URL."""

    channels: frozenset[str] | None = None  # None: any channel override is accepted

    @property
    def path(self) -> str:
        return f"/services/{SLACK_TEAM}/{SLACK_BOT}/{SLACK_TOKEN}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def url_with(self, *, token: str | None = None, team: str | None = None) -> str:
        """A webhook URL of this host with another token or workspace (refused by Slack)."""
        return f"{self.base_url}/services/{team or SLACK_TEAM}/{SLACK_BOT}/{token or SLACK_TOKEN}"

    async def handle(self, request: web.Request) -> web.Response:
        parts = request.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "services" or parts[1:3] != [SLACK_TEAM, SLACK_BOT]:
            return self._refuse(request.path, 404, "no_service")
        if parts[3] != SLACK_TOKEN:
            return self._refuse(request.path, 403, "invalid_token")
        body = await _json_object(request)
        if body is None:
            return self._refuse(request.path, 400, "invalid_payload")
        if not (body.get("text") or body.get("attachments") or body.get("blocks")):
            return self._refuse(request.path, 400, "no_text")
        channel = body.get("channel")
        if channel and self.channels is not None and channel not in self.channels:
            return self._refuse(request.path, 404, "channel_not_found")
        return self._accept(body)

    def messages(self, contains: str, status: str) -> list[dict[str, Any]]:
        """Accepted messages whose first attachment names ``contains`` with ``status``
        (FIRING/RESOLVED) in its title."""
        found = []
        for body in self.bodies():
            attachment = (body.get("attachments") or [{}])[0]
            if contains in attachment.get("text", "") and status in attachment.get("title", ""):
                found.append(body)
        return found


@pytest.fixture
def slack_webhook() -> Iterator[SlackWebhook]:
    slack = SlackWebhook(channels=frozenset({"#oncall", "#alerts"}))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", slack.handle)
    with serving(app) as url:
        slack.base_url = url
        yield slack


# --- webhook ----------------------------------------------------------------------------------


@dataclass
class WebhookRecorder(HttpLog):
    """Alertmanager's webhook JSON accepted at ``url`` only."""

    @property
    def url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    async def handle(self, request: web.Request) -> web.Response:
        if request.path != WEBHOOK_PATH:
            return self._refuse(request.path, 404, "not found")
        if request.method != "POST":
            return self._refuse(request.path, 405, "method not allowed")
        if request.content_type != "application/json":
            return self._refuse(request.path, 415, f"not JSON: {request.content_type}")
        body = await _json_object(request)
        if (
            body is None
            or body.get("version") != "4"
            or body.get("status") not in ("firing", "resolved")
            or not isinstance(body.get("alerts"), list)
        ):
            return self._refuse(request.path, 400, "not an Alertmanager webhook (version 4)")
        return self._accept(body)

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every notification received, in order."""
        return [alert for body in self.bodies() for alert in body["alerts"]]

    def alert(self, status: str, **labels: str) -> dict[str, Any] | None:
        """The first alert received with ``status`` and all of ``labels``."""
        for alert in self.alerts():
            if alert["status"] == status and all(
                alert["labels"].get(k) == v for k, v in labels.items()
            ):
                return alert
        return None


@pytest.fixture
def webhook_recorder() -> Iterator[WebhookRecorder]:
    recorder = WebhookRecorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    with serving(app) as url:
        recorder.base_url = url
        yield recorder
