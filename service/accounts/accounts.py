"""Accounts: the one orchestration of user changes; each method is one transaction.

Every change and its audit event commit together or not at all. Refusals come
back as values with a stable code; nothing here logs or echoes a password,
a TOTP code or secret, or a recovery code.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from service.accounts import recovery, totp
from service.accounts.core import Context, Deps, Enforcement, audit
from service.accounts.notify import LogNotifier, Notice, Notifier
from service.accounts.passwords import PasswordPolicy, Passwords
from service.accounts.secretbox import SecretBox
from service.accounts.two_factor import RecoveryCodes, issue_recovery_codes, method_added
from service.publishers.base import Refusal
from service.store.base import Store, Transaction, UsernameTaken, UserRecord

__all__ = ["Accounts", "Context", "RecoveryAccepted", "RecoveryCodes", "TotpAccepted"]

INVALID_USERNAME: Final = "invalid-username"
INVALID_EMAIL: Final = "invalid-email"
USERNAME_TAKEN: Final = "username-taken"
INVALID_CREDENTIALS: Final = "invalid-credentials"
TOTP_NOT_ENROLLED: Final = "totp-not-enrolled"
TOTP_ALREADY_CONFIRMED: Final = "totp-already-confirmed"
INVALID_TOTP: Final = "invalid-totp"
REUSED_TOTP: Final = "reused-totp"
INVALID_RECOVERY_CODE: Final = "invalid-recovery-code"
TWO_FACTOR_REQUIRED: Final = "two-factor-required"

# ASCII only: lower() then agrees on SQLite and PostgreSQL, and look-alike
# Unicode letters cannot make a second "alice".
USERNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True, slots=True)
class TotpAccepted:
    step: int


@dataclass(frozen=True, slots=True)
class RecoveryAccepted:
    remaining: int


class Accounts:
    def __init__(
        self,
        store: Store,
        *,
        passwords: Passwords,
        policy: PasswordPolicy,
        secrets: SecretBox,
        issuer: str = "mintgate",
        clock: Callable[[], float] = time.time,
        notifier: Notifier | None = None,
        enforcement: Enforcement | None = None,
    ) -> None:
        self.store = store
        self.passwords = passwords
        self.policy = policy
        self.secrets = secrets
        self.issuer = issuer
        self.clock = clock
        # The same store and clock, for the service functions of the other modules.
        self.deps = Deps(store, clock, notifier or LogNotifier(), enforcement or Enforcement())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def _audit(
        self, tx: Transaction, ctx: Context, event: str, subject: int | None, **details: Any
    ) -> None:
        await audit(tx, self.deps, ctx, event, subject=subject, **details)

    async def create_user(
        self, username: str, email: str, password: str, ctx: Context
    ) -> UserRecord | Refusal:
        if not USERNAME.fullmatch(username):
            return Refusal(
                INVALID_USERNAME,
                "username: expected 1-50 ASCII letters, digits, '.', '_' or '-',"
                " starting and ending with a letter or digit",
            )
        if len(email) > 254 or not EMAIL.fullmatch(email):
            return Refusal(INVALID_EMAIL, "email: expected an address like name@example.org")
        refused = await self.policy.check(password, username)
        if refused is not None:
            return refused
        # argon2 takes tens of milliseconds of CPU: keep it off the event loop.
        password_hash = await asyncio.to_thread(self.passwords.hash, password)
        try:
            async with self.store.transaction() as tx:
                user = await tx.add_user(username, email, password_hash, self._now())
                await self._audit(tx, ctx, "user:created", user.id, username=username)
        except UsernameTaken:
            return Refusal(USERNAME_TAKEN, f"username: {username!r} is taken")
        return user

    async def check_password(
        self, username: str, password: str, ctx: Context
    ) -> UserRecord | Refusal:
        async with self.store.transaction() as tx:
            user = await tx.user_by_name(username)
        if user is None:
            await asyncio.to_thread(self.passwords.spend_verify_time, password)
            return Refusal(INVALID_CREDENTIALS, "username or password is wrong")
        verified = await asyncio.to_thread(self.passwords.verify, user.password_hash, password)
        async with self.store.transaction() as tx:
            if not verified.ok:
                await self._audit(tx, ctx, "login:password-failed", user.id)
                return Refusal(INVALID_CREDENTIALS, "username or password is wrong")
            if verified.new_hash is not None:
                # Hashed with older parameters: upgrade now, while we hold the password.
                await tx.set_password_hash(user.id, verified.new_hash)
                await self._audit(tx, ctx, "user:password-rehashed", user.id)
        return user

    async def begin_totp(self, user_id: int, ctx: Context) -> totp.Enrolment | Refusal:
        secret = totp.new_secret()
        async with self.store.transaction() as tx:
            user = await tx.user_by_id(user_id)
            existing = await tx.totp_for(user_id)
            if user is None:
                return Refusal(INVALID_CREDENTIALS, "no such user")
            if existing is not None and existing.confirmed_at is not None:
                return Refusal(TOTP_ALREADY_CONFIRMED, "an authenticator app is already set up")
            await tx.put_totp(user_id, self.secrets.encrypt(secret, _context(user_id)), self._now())
            await self._audit(tx, ctx, "totp:enrolment-started", user_id)
        return totp.enrolment(secret, user.username, self.issuer)

    async def confirm_totp(self, user_id: int, code: str, ctx: Context) -> RecoveryCodes | Refusal:
        """A first valid code proves the app holds the secret; 2FA is on from here."""
        async with self.store.transaction() as tx:
            credential = await tx.totp_for(user_id)
            user = await tx.user_by_id(user_id)
            if credential is None or user is None:
                return Refusal(TOTP_NOT_ENROLLED, "no authenticator app enrolment in progress")
            if credential.confirmed_at is not None:
                return Refusal(TOTP_ALREADY_CONFIRMED, "the authenticator app is already set up")
            used = await self._use_code(tx, user_id, credential.secret_ciphertext, code)
            if isinstance(used, Refusal):
                return used
            now = self._now()
            await tx.confirm_totp(user_id, now)
            await self._audit(tx, ctx, "totp:confirmed", user_id)
            codes = await method_added(tx, self.deps, ctx, user, now)
        await self.deps.notify(
            Notice(user.email, user.username, "two-factor-added", "authenticator app")
        )
        return codes

    async def verify_totp(self, user_id: int, code: str, ctx: Context) -> TotpAccepted | Refusal:
        async with self.store.transaction() as tx:
            credential = await tx.totp_for(user_id)
            if credential is None or credential.confirmed_at is None:
                return Refusal(TOTP_NOT_ENROLLED, "no authenticator app is set up")
            result = await self._use_code(tx, user_id, credential.secret_ciphertext, code)
            if isinstance(result, Refusal):
                await self._audit(tx, ctx, "totp:failed", user_id, reason=result.code)
                return result
            await tx.mark_two_factor(user_id, self._now())
            await self._audit(tx, ctx, "totp:used", user_id)
        return result

    async def _use_code(
        self, tx: Transaction, user_id: int, ciphertext: bytes, code: str
    ) -> TotpAccepted | Refusal:
        secret = self.secrets.decrypt(ciphertext, _context(user_id))
        step = totp.matching_step(secret, code, self.clock())
        if step is None:
            return Refusal(INVALID_TOTP, "the authenticator code is wrong or expired")
        if not await tx.claim_totp_step(user_id, step):
            # Same or older step than the last accepted one: an observed code
            # replayed, or the loser of two simultaneous uses.
            return Refusal(
                REUSED_TOTP, "this authenticator code was already used; wait for the next"
            )
        return TotpAccepted(step)

    async def regenerate_recovery_codes(
        self, user_id: int, ctx: Context
    ) -> RecoveryCodes | Refusal:
        """A new set of codes; every code of the old set stops working in the same commit."""
        async with self.store.transaction() as tx:
            user = await tx.user_by_id(user_id)
            if user is None or user.two_factor_enabled_at is None:
                return Refusal(TWO_FACTOR_REQUIRED, "set up two-factor authentication first")
            return await issue_recovery_codes(tx, self.deps, ctx, user_id)

    async def redeem_recovery_code(
        self, user_id: int, code: str, ctx: Context
    ) -> RecoveryAccepted | Refusal:
        wrong = Refusal(INVALID_RECOVERY_CODE, "the recovery code is wrong or was used")
        # Not the shape of any code we issue: refused before hashing or a look-up, with the
        # same answer (and the same audit) as a wrong code, so its shape teaches nothing.
        well_formed = recovery.well_formed(code)
        async with self.store.transaction() as tx:
            if not well_formed or not await tx.redeem_recovery_code(
                user_id, recovery.hash_code(code), self._now()
            ):
                await self._audit(tx, ctx, "recovery-code:failed", user_id)
                return wrong
            remaining = await tx.unused_recovery_codes(user_id)
            # A recovery code is a second factor: it counts as a fresh confirmation.
            await tx.mark_two_factor(user_id, self._now())
            await self._audit(tx, ctx, "recovery-code:used", user_id, remaining=remaining)
            user = await tx.user_by_id(user_id)
        if user is not None:
            await self.deps.notify(
                Notice(user.email, user.username, "recovery-code-used", f"{remaining} left")
            )
        return RecoveryAccepted(remaining)


def _context(user_id: int) -> bytes:
    return f"totp:{user_id}".encode()
