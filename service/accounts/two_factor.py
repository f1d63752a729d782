"""Second-factor methods as a whole: turning 2FA on, removing a method, operator reset.

A user's methods are the confirmed TOTP app and each security key; recovery
codes are a way back in, not a method. 2FA is on while one method exists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from service.accounts import recovery
from service.accounts.core import Context, Deps, acting_user, audit
from service.accounts.notify import Notice
from service.accounts.policy import require_recent_two_factor
from service.publishers.base import Refusal
from service.store.base import Transaction, UserRecord

LAST_TWO_FACTOR_METHOD: Final = "last-two-factor-method"
NO_SUCH_METHOD: Final = "no-such-two-factor-method"
NO_SUCH_USER: Final = "no-such-user"
REASON_REQUIRED: Final = "reason-required"


@dataclass(frozen=True, slots=True)
class RecoveryCodes:
    """Shown once; only their hashes are stored."""

    codes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"RecoveryCodes(<{len(self.codes)} codes>)"


@dataclass(frozen=True, slots=True)
class Removed:
    method: str
    remaining: int  # 0: two-factor authentication is now off


async def issue_recovery_codes(
    tx: Transaction, deps: Deps, ctx: Context, user_id: int
) -> RecoveryCodes:
    codes = recovery.generate()
    await tx.replace_recovery_codes(user_id, [recovery.hash_code(c) for c in codes], deps.now())
    await audit(tx, deps, ctx, "recovery-codes:issued", subject=user_id, count=len(codes))
    return RecoveryCodes(tuple(codes))


async def method_added(
    tx: Transaction, deps: Deps, ctx: Context, user: UserRecord, now: datetime
) -> RecoveryCodes:
    """A method was just proven: the first one turns 2FA on and issues recovery codes.

    It also revokes every other session of the user: they were opened with the
    password alone, and would otherwise stay full sessions that never proved the
    factor now required (a stolen one among them). The session that proved the
    method (ctx.session_id) stays.
    """
    await tx.mark_two_factor(user.id, now)
    if user.two_factor_enabled_at is not None:
        return RecoveryCodes(())
    await tx.set_two_factor_enabled(user.id, now)
    revoked = await tx.delete_sessions_of(user.id, keep=ctx.session_id)
    if revoked:
        await audit(
            tx,
            deps,
            ctx,
            "sessions:revoked",
            subject=user.id,
            reason="two-factor-enabled",
            count=revoked,
        )
    return await issue_recovery_codes(tx, deps, ctx, user.id)


async def count_methods(tx: Transaction, user_id: int) -> int:
    totp = await tx.totp_for(user_id)
    confirmed = totp is not None and totp.confirmed_at is not None
    return int(confirmed) + len(await tx.security_keys(user_id))


async def remove_totp(deps: Deps, ctx: Context) -> Removed | Refusal:
    async def has(tx: Transaction, user: UserRecord) -> bool:
        found = await tx.totp_for(user.id)
        return found is not None and found.confirmed_at is not None

    async def delete(tx: Transaction, user: UserRecord) -> bool:
        return await tx.delete_totp(user.id)

    return await _remove(deps, ctx, "authenticator app", has, delete)


async def remove_security_key(deps: Deps, ctx: Context, key_id: int) -> Removed | Refusal:
    async def has(tx: Transaction, user: UserRecord) -> bool:
        return any(k.id == key_id for k in await tx.security_keys(user.id))

    async def delete(tx: Transaction, user: UserRecord) -> bool:
        return await tx.delete_security_key(user.id, key_id)

    return await _remove(deps, ctx, f"security key {key_id}", has, delete)


Step = Callable[[Transaction, UserRecord], Awaitable[bool]]


async def _remove(
    deps: Deps,
    ctx: Context,
    method: str,
    has: Step,
    delete: Step,
) -> Removed | Refusal:
    now = deps.now()
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        # Removing a way in is sensitive: a stolen session alone must not do it.
        stale = require_recent_two_factor(user, now)
        if stale is not None:
            return stale
        if not await has(tx, user):
            return Refusal(NO_SUCH_METHOD, f"no {method} is set up on this account")
        before = await count_methods(tx, user.id)
        exposure = await tx.exposure(user.id)
        if before == 1 and exposure.any:
            where = ", ".join(
                [f"project {p}" for p in exposure.projects]
                + [f"organization {o}" for o in exposure.organizations]
            )
            return Refusal(
                LAST_TWO_FACTOR_METHOD,
                f"this is your last two-factor method and you maintain {where}:"
                " add another method first, or leave those projects and organizations",
            )
        if not await delete(tx, user):  # a concurrent removal got there first
            return Refusal(NO_SUCH_METHOD, f"no {method} is set up on this account")
        remaining = before - 1
        if remaining == 0:
            await _two_factor_off(tx, deps, user.id)
        await audit(
            tx, deps, ctx, "two-factor:removed", subject=user.id, method=method, remaining=remaining
        )
    await deps.notify(Notice(user.email, user.username, "two-factor-removed", method))
    return Removed(method, remaining)


async def _two_factor_off(tx: Transaction, deps: Deps, user_id: int) -> None:
    await tx.set_two_factor_enabled(user_id, None)
    await tx.mark_two_factor(user_id, None)
    # Recovery codes stand in for a method; with no method left they must go.
    await tx.replace_recovery_codes(user_id, [], deps.now())


async def reset_two_factor(
    deps: Deps, ctx: Context, username: str, reason: str
) -> Removed | Refusal:
    """Operator-assisted recovery, after the person proved who they are out of band.

    Removes every method and recovery code and revokes every session of the user,
    all in one transaction: the person signs in afresh and enrols again.
    """
    if not reason.strip():
        return Refusal(REASON_REQUIRED, "say why (the ticket, how identity was checked)")
    async with deps.store.transaction() as tx:
        user = await tx.user_by_name(username)
        if user is None:
            return Refusal(NO_SUCH_USER, f"no user {username!r}")
        removed = await tx.clear_two_factor(user.id)
        await _two_factor_off(tx, deps, user.id)
        # Every session goes in the same commit: the reset exists because someone else
        # may hold the factors, and a session they hold must not outlive it to enrol
        # its own authenticator and take the fresh recovery codes.
        revoked = await tx.delete_sessions_of(user.id)
        await audit(
            tx,
            deps,
            ctx,
            "operator:two-factor-reset",
            subject=user.id,
            reason=reason,
            methods_removed=removed,
            sessions_revoked=revoked,
        )
    await deps.notify(Notice(user.email, user.username, "two-factor-reset", f"reason: {reason}"))
    return Removed("all", 0)
