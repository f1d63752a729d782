"""Devices a user finished a second-factor sign-in from, and the notice for a new one.

A device is a browser holding our device cookie: 256 random bits, handed out by
the server when a sign-in finishes from a device it does not know, stored only
as its SHA-256 (as session ids are). What the cookie can do is deliberately
small: it spares its owner the new-device notice, nothing more. It never stands
in for a password or a second factor.

Attacks it has to survive:
- a forged or guessed cookie matches no stored hash, so it is just an unknown
  device: the notice goes out;
- a planted cookie (a value the attacker knows, set in the victim's browser)
  is never adopted: an unknown value is replaced by a fresh server-made one,
  so the attacker cannot later sign in "as a known device";
- a cookie known for one account means nothing for another: devices are
  remembered per user;
- someone who signs in again and again cannot grow the table: each user keeps
  the MAX_DEVICES seen most recently.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from service.accounts.core import Context
from service.accounts.notify import Notice
from service.store.base import Transaction, UserRecord

TOKEN_BYTES = 32
MAX_DEVICES = 32
# As long as a browser keeps the cookie; signing in from it refreshes nothing but
# last_seen_at, so a device unused for a year is new again.
COOKIE_AGE = timedelta(days=365)
MAX_AGENT = 120  # characters of the user agent a notice quotes
MAX_ADDRESS = 45  # an IPv6 address in full

NEW_DEVICE: Final = "new-device-sign-in"
# token_urlsafe(32): 43 characters of the URL-safe alphabet. Anything else is not ours.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
PRINTABLE = re.compile(r"[^\x20-\x7e]+")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Seen:
    known: bool
    # A new device cookie to hand the browser (a fresh value for an unknown device);
    # None when the browser's own cookie was recognised.
    token: str | None

    def __repr__(self) -> str:
        return f"Seen(known={self.known})"


async def sign_in_from(tx: Transaction, user_id: int, presented: str | None, now: datetime) -> Seen:
    """Recognise the device of a sign-in that just proved its second factor, or remember
    a new one. Part of the transaction that makes the session full."""
    well_formed = presented is not None and TOKEN_SHAPE.fullmatch(presented) is not None
    if well_formed and await tx.touch_device(user_id, hash_token(str(presented)), now):
        return Seen(known=True, token=None)
    # Unknown, forged, or absent: never adopt the presented value, mint our own.
    token = new_token()
    await tx.add_device(user_id, hash_token(token), now, keep=MAX_DEVICES)
    return Seen(known=False, token=token)


def quoted(text: str | None, limit: int, missing: str) -> str:
    """Client-sent text as a notice may quote it: printable ASCII, one line, short.

    A user agent is whatever the client sent; a mail must not carry its control
    characters (header or line injection) or a megabyte of it.
    """
    cleaned = " ".join(PRINTABLE.sub(" ", text or "").split())
    if not cleaned:
        return missing
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


METHODS = {
    "totp": "an authenticator app",
    "recovery-code": "a recovery code",
    "security-key": "a security key",
}


def new_device_notice(user: UserRecord, ctx: Context, method: str, at: datetime) -> Notice:
    agent = quoted(ctx.user_agent, MAX_AGENT, "an unknown browser")
    address = quoted(ctx.ip, MAX_ADDRESS, "an unknown address")
    detail = (
        f"with {METHODS.get(method, method)}, from {agent} at {address}, {at:%Y-%m-%d %H:%M} UTC"
    )
    return Notice(user.email, user.username, NEW_DEVICE, detail)
