"""The exact bytes of a receiver's secret file, as the tool that reads it reads them (pure).

Alertmanager reads each receiver secret HarborHook keeps from a ``*_file`` field. What it does
with the file's bytes depends on the field and on its version (``notify/<integration>/*.go``
of github.com/prometheus/alertmanager, read at the tags named)::

    field                                 reads the file                       versions
    slack_configs[].api_url_file          strings.TrimSpace(content)           0.22 and later
    email_configs[].auth_password_file    string(content), VERBATIM            up to 0.26
                                          strings.TrimSpace(content)           0.27 and later
    webhook_configs[].url_file            strings.TrimSpace(content)           0.26 and later

(0.25.0, the Debian version, ``notify/email/email.go`` ``getPassword()``: a password file
ending in a newline sends the newline as part of the password, and the SMTP server answers
535.) Hence one rule for every secret file:

- the file holds the secret's UTF-8 bytes and nothing else: no trailing newline;
- a secret with whitespace at either end is refused where it enters: the versions that trim
  would read another password than the versions that do not;
- a secret with a control character (a line break, a tab, NUL) is refused: it cannot be typed
  into any of the services' forms and no version reads it back the same way.

Every version then reads exactly the secret the operator gave. Files written by earlier
HarborHook versions (secret + newline) are read back without the newline and rewritten in the
exact form (``needs_rewrite``).
"""

from __future__ import annotations

from harborctl.errors import ValidationError

ENCODING = "utf-8"


def control_characters(value: str) -> list[str]:
    """The control characters (C0, DEL) in ``value``, as ``repr`` escapes, in order."""
    return [repr(c)[1:-1] for c in value if ord(c) < 0x20 or ord(c) == 0x7F]


def check_secret(option: str, value: str, what: str = "the password") -> str:
    """``value`` as a secret Alertmanager reads back unchanged, or ValidationError naming
    ``option``. One line ending (``\\n`` or ``\\r\\n``, as a file or stdin ends) is dropped
    first; the secret itself is never echoed."""
    secret = value
    for ending in ("\r\n", "\n"):
        if secret.endswith(ending):
            secret = secret[: -len(ending)]
            break
    if not secret.strip():
        raise ValidationError(option, f"{option}: {what} is empty")
    if "\n" in secret or "\r" in secret:
        raise ValidationError(option, f"{option}: {what} must be a single line")
    if secret != secret.strip():
        raise ValidationError(
            option,
            f"{option}: {what} starts or ends with whitespace; Alertmanager 0.27+ strips it "
            "from the secret file, so the server would get another password",
        )
    found = control_characters(secret)
    if found:
        raise ValidationError(option, f"{option}: {what} contains a control character ({found[0]})")
    return secret


def secret_bytes(secret: str) -> bytes:
    """What the secret file holds: exactly the secret, UTF-8, no trailing newline."""
    return secret.encode(ENCODING)


def secret_from_file(content: bytes) -> str:
    """The secret in a file's ``content``; a trailing newline (written by HarborHook before
    the exact form) is not part of it."""
    text = content.decode(ENCODING, errors="replace")
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def needs_rewrite(content: bytes) -> bool:
    """Whether a secret file's ``content`` differs from the exact form of its secret."""
    return secret_bytes(secret_from_file(content)) != content
