"""Login sessions: password in, a short-lived session out; the second factor makes it full.

A session id is 256 random bits, handed to the client once (cookie or bearer)
and stored only as its SHA-256: a copy of the table opens nothing. A user
with 2FA gets a *pending* session from the password alone; only proving a
second factor in that session (TOTP, recovery code, security key) makes it
full. Each proof also stamps the session, so the recent-proof window of
sensitive actions is judged per session: a proof made in one browser does
not vouch for a stolen cookie used in another. A sign-in finished from a
device the user never signed in from mails them a notice (devices.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Final

from service.accounts import devices
from service.accounts.accounts import INVALID_CREDENTIALS, Accounts
from service.accounts.core import NOT_SIGNED_IN, Context, Deps, audit
from service.accounts.housekeeping import Sweeper
from service.accounts.notify import Notice
from service.accounts.policy import RECENT_TWO_FACTOR_REQUIRED, RECENT_WINDOW
from service.publishers.base import Refusal
from service.store.base import SessionRecord, UserRecord

SESSION_EXPIRED: Final = "session-expired"
TWO_FACTOR_PENDING: Final = "two-factor-pending"
ID_BYTES = 32  # 256 bits: unguessable, so a fast hash is enough to store it
# A password-only session waiting for its second factor: long enough to find a
# phone or a key, short enough that a stolen half-login is soon worthless.
PENDING_TTL = timedelta(minutes=10)


def new_session_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def hash_session_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A live session and its user as stored now."""

    session: SessionRecord
    user: UserRecord

    def context(self, ip: str | None, user_agent: str | None) -> Context:
        return Context(
            actor=self.user.username,
            actor_user_id=self.user.id,
            ip=ip,
            user_agent=user_agent,
            session_id=self.session.id,
        )


@dataclass(frozen=True, slots=True)
class Started:
    session_id: str  # shown once, to the client; never logged
    session: SessionRecord

    def __repr__(self) -> str:
        return f"Started(<session {self.session.id}>)"


@dataclass(frozen=True, slots=True)
class Proven:
    session: SessionRecord
    # The device cookie to hand the browser after a sign-in from a device not known
    # before (never logged); None when nothing is to be set.
    device_token: str | None = None

    def __repr__(self) -> str:
        return f"Proven(<session {self.session.id}>)"


class Sessions:
    def __init__(self, deps: Deps, ttl: timedelta) -> None:
        self.deps = deps
        self.ttl = ttl
        # Housekeeping rides on logins, at most every few minutes: no timer to run.
        self.sweeper = Sweeper(deps)

    async def login(
        self, accounts: Accounts, username: str, password: str, ctx: Context
    ) -> Started | Refusal:
        """Password check (audited either way, never the password), then a session."""
        checked = await accounts.check_password(username, password, ctx)
        if isinstance(checked, Refusal):
            async with self.deps.store.transaction() as tx:
                # check_password audited a known user's failure; record the unknown
                # ones too, without the attempted name (people type passwords there).
                if await tx.user_by_name(username) is None:
                    await audit(tx, self.deps, ctx, "login:unknown-user")
            return checked
        return await self.start(checked, ctx)

    async def start(self, user: UserRecord, ctx: Context) -> Started:
        now = self.deps.now()
        session_id = new_session_id()
        await self.sweeper.maybe()
        async with self.deps.store.transaction() as tx:
            # Whether 2FA is on, read again under a share lock: the password was checked
            # in an earlier transaction, and a first method confirmed since then revokes
            # every other session. Without the lock a login racing that enrolment could
            # still add a full, password-only session after the revocation.
            current = await tx.user_for_share(user.id) or user
            pending = current.two_factor_enabled_at is not None
            session = await tx.add_session(
                hash_session_id(session_id),
                user.id,
                now=now,
                expires_at=now + (PENDING_TTL if pending else self.ttl),
                pending=pending,
                ip=ctx.ip,
                user_agent=ctx.user_agent,
            )
            await audit(
                tx, self.deps, ctx, "login:password-ok", subject=user.id, two_factor_pending=pending
            )
        return Started(session_id, session)

    async def resolve(self, session_id: str) -> Authenticated | Refusal:
        now = self.deps.now()
        async with self.deps.store.transaction() as tx:
            session = await tx.session_by_hash(hash_session_id(session_id))
            if session is None:
                return Refusal(NOT_SIGNED_IN, "sign in first: no such session (or it was revoked)")
            if session.expires_at <= now:
                await tx.delete_session(session.id)
                return Refusal(SESSION_EXPIRED, "the session expired: sign in again")
            user = await tx.user_by_id(session.user_id)
        if user is None:  # the cascade removes sessions with their user; a race is all that's left
            return Refusal(NOT_SIGNED_IN, "sign in first: the account no longer exists")
        return Authenticated(session, user)

    async def second_factor_proven(
        self, auth: Authenticated, ctx: Context, method: str, *, device: str | None = None
    ) -> Proven | None:
        """Stamp the session after the account layer accepted a second factor.

        A pending session becomes full and gets the full lifetime from now on: that
        is a sign-in, and `device` is the browser's device cookie. A device the
        user never signed in from gets a new cookie (Proven.device_token) and the
        user a notice. None when the session was revoked meanwhile.
        """
        now = self.deps.now()
        signing_in = auth.session.pending
        # Only the login's own proof extends the lifetime; a re-confirmation does not,
        # so a session cannot be kept alive forever.
        expires = now + self.ttl if signing_in else auth.session.expires_at
        seen = None
        async with self.deps.store.transaction() as tx:
            if not await tx.prove_session_second_factor(auth.session.id, now, expires):
                return None
            details: dict[str, Any] = {"method": method}
            if signing_in:
                seen = await devices.sign_in_from(tx, auth.user.id, device, now)
                details["known_device"] = seen.known
            event = "login:two-factor-ok" if signing_in else "reconfirmed"
            await audit(tx, self.deps, ctx, event, subject=auth.user.id, **details)
        session = replace(auth.session, pending=False, second_factor_at=now, expires_at=expires)
        if seen is None:
            return Proven(session)
        if not seen.known:
            await self.deps.notify(devices.new_device_notice(auth.user, ctx, method, now))
        return Proven(session, seen.token)

    async def logout(self, auth: Authenticated, ctx: Context) -> None:
        async with self.deps.store.transaction() as tx:
            await tx.delete_session(auth.session.id)
            await audit(tx, self.deps, ctx, "logout", subject=auth.user.id)

    def require_recent(self, auth: Authenticated) -> Refusal | None:
        """Sensitive actions: a second factor proven in *this* session within RECENT_WINDOW.

        A user without 2FA has nothing to prove; the account layer's own gate
        decides what such a user may do at all.
        """
        if auth.user.two_factor_enabled_at is None:
            return None
        last = auth.session.second_factor_at
        if last is None or self.deps.now() - last > RECENT_WINDOW:
            minutes = RECENT_WINDOW.seconds // 60
            return Refusal(
                RECENT_TWO_FACTOR_REQUIRED,
                "confirm with your authenticator app, security key or a recovery code first"
                f" (POST /api/v1/session/confirm/...): this action needs a confirmation within"
                f" the last {minutes} minutes",
            )
        return None


def pending_refusal() -> Refusal:
    return Refusal(
        TWO_FACTOR_PENDING,
        "finish signing in first: prove your second factor at /api/v1/session/confirm/totp,"
        " /api/v1/session/confirm/recovery-code or /api/v1/session/confirm/security-key",
    )


async def change_password(
    accounts: Accounts,
    sessions: Sessions,
    auth: Authenticated,
    current: str,
    new: str,
    ctx: Context,
) -> int | Refusal:
    """The current password again, a fresh second factor if the user has 2FA, and a new
    password that passes the rules. Every other session is revoked in the same commit:
    whoever else held one may be the reason for the change. Returns how many went."""
    stale = sessions.require_recent(auth)
    if stale is not None:
        return stale
    user = auth.user
    verified = await asyncio.to_thread(accounts.passwords.verify, user.password_hash, current)
    if not verified.ok:
        async with accounts.store.transaction() as tx:
            await audit(tx, accounts.deps, ctx, "password:change-failed", subject=user.id)
        return Refusal(INVALID_CREDENTIALS, "current_password: the current password is wrong")
    refused = await accounts.policy.check(new, user.username)
    if refused is not None:
        return refused
    new_hash = await asyncio.to_thread(accounts.passwords.hash, new)
    async with accounts.store.transaction() as tx:
        await tx.set_password_hash(user.id, new_hash)
        revoked = await tx.delete_sessions_of(user.id, keep=auth.session.id)
        await audit(
            tx, accounts.deps, ctx, "password:changed", subject=user.id, sessions_revoked=revoked
        )
    await accounts.deps.notify(Notice(user.email, user.username, "password-changed"))
    return revoked
