"""Security notices to the account's owner: by SMTP when configured, else to the log.

smtplib in a worker thread rather than aiosmtplib: a handful of mails per
security event needs no new dependency, and the standard library's client is
the one most SMTP relays are tested against. A notice never carries a
secret: it names the event, the account and where to look, nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

TIMEOUT = 10.0

# event -> (subject, what happened); the sentence is completed with details.
MESSAGES = {
    "two-factor-added": ("Two-factor method added", "A two-factor method was added"),
    "two-factor-removed": ("Two-factor method removed", "A two-factor method was removed"),
    "two-factor-reset": (
        "Two-factor authentication reset by an operator",
        "An operator removed every two-factor method from your account",
    ),
    "recovery-code-used": (
        "Recovery code used",
        "A recovery code was used to sign in; generate a new set of codes",
    ),
    "password-changed": ("Password changed", "Your password was changed"),
    "new-device-sign-in": (
        "Sign-in from a new device",
        "Your account was signed in from a device it was not signed in from before",
    ),
    "token-created": ("New API token", "A new API token was created"),
    "publisher-added": ("New trusted publisher", "A trusted publisher was added"),
    "publisher-removed": ("Trusted publisher removed", "A trusted publisher was removed"),
    "pending-publisher-added": (
        "New pending publisher",
        "A pending trusted publisher was registered; its first upload creates the project",
    ),
    "trusted-publishing-only": (
        "Trusted publishing only",
        "The project's 'trusted publishing only' switch was changed",
    ),
    "token-revoked": ("API token revoked", "An API token was revoked"),
    "role-changed": ("Your role changed", "An owner changed your role"),
    "role-removed": ("Your role was removed", "An owner removed you"),
    "role-left": ("You left", "Your account gave up its role"),
    "member-left": ("A collaborator left", "A collaborator gave up their role"),
}


@dataclass(frozen=True, slots=True)
class Notice:
    to: str
    username: str
    event: str  # a key of MESSAGES
    detail: str = ""  # e.g. the method's name or the operator's reason; never a secret

    def subject(self) -> str:
        return f"[mintgate] {MESSAGES[self.event][0]}"

    def body(self) -> str:
        line = MESSAGES[self.event][1]
        detail = f" ({self.detail})" if self.detail else ""
        return (
            f"Hello {self.username},\n\n{line}{detail}.\n\n"
            "If this was not you, secure your account now and contact the operators.\n"
        )


class Notifier(Protocol):
    async def send(self, notice: Notice) -> None: ...


class LogNotifier:
    """Without SMTP: the event reaches the operator's log (addresses stay out of it)."""

    async def send(self, notice: Notice) -> None:
        log.info("security notice for %s: %s", notice.username, notice.event)


class SmtpNotifier:
    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or {"smtps": 465, "smtp+starttls": 587}.get(parts.scheme, 25)
        self.username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self.sender = sender

    def __repr__(self) -> str:  # the password stays out of any log of this object
        return f"SmtpNotifier({self.scheme}://{self.host}:{self.port})"

    async def send(self, notice: Notice) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = notice.to
        message["Subject"] = notice.subject()
        message.set_content(notice.body())
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        client: smtplib.SMTP
        if self.scheme == "smtps":
            client = smtplib.SMTP_SSL(
                self.host, self.port, timeout=TIMEOUT, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
        with client:
            if self.scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if self.username is not None and self._password is not None:
                client.login(self.username, self._password)
            client.send_message(message)


async def deliver(notifier: Notifier, notices: Iterable[Notice]) -> None:
    """Send each notice; a failure is logged (without the address) and never raised."""
    for notice in notices:
        try:
            await notifier.send(notice)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning(
                "could not send the %s notice for %s: %s", notice.event, notice.username, exc
            )


def notifier_for(smtp_url: str | None, sender: str) -> Notifier:
    return SmtpNotifier(smtp_url, sender) if smtp_url else LogNotifier()
