"""What the account tests share (imported by name: tests/accounts is on sys.path)."""

from __future__ import annotations

import base64
import os

from argon2 import PasswordHasher
from fakeissuer import Clock

from service.accounts import totp
from service.accounts.accounts import Accounts, Context
from service.accounts.notify import Notice
from service.accounts.passwords import PasswordPolicy, Passwords
from service.accounts.secretbox import SecretBox
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord

CTX = Context(actor="test", ip="192.0.2.10", user_agent="pytest")
PASSWORD = "correct horse battery staple"


def cheap_passwords(time_cost: int = 1) -> Passwords:
    # Minimum cost keeps hashing in microseconds; the production profile has its own test.
    return Passwords(PasswordHasher(time_cost=time_cost, memory_cost=8, parallelism=1))


def make_accounts(store: SqlStore, clock: Clock, common: frozenset[str]) -> Accounts:
    return Accounts(
        store,
        passwords=cheap_passwords(),
        policy=PasswordPolicy(common, breaches=None),
        secrets=SecretBox(os.urandom(32)),
        clock=clock,
    )


class RecordingNotifier:
    """Keeps notices instead of sending them (the SMTP path has its own real test)."""

    def __init__(self) -> None:
        self.notices: list[Notice] = []

    async def send(self, notice: Notice) -> None:
        self.notices.append(notice)

    def events(self) -> list[tuple[str, str]]:
        return [(n.username, n.event) for n in self.notices]


def ctx_for(user: UserRecord) -> Context:
    return Context(actor=user.username, actor_user_id=user.id, ip="192.0.2.10", user_agent="pytest")


async def new_user(accounts: Accounts, name: str, *, two_factor: bool = False) -> UserRecord:
    """A user; with two_factor, 2FA on and just confirmed (set in the store: fast, no ceremony)."""
    user = await accounts.create_user(name, f"{name}@example.org", PASSWORD, CTX)
    assert isinstance(user, UserRecord), user
    return await give_two_factor(accounts, user) if two_factor else user


async def enrol_totp(accounts: Accounts, clock: Clock, user: UserRecord) -> bytes:
    """A real TOTP enrolment, confirmed; the clock is moved past the spent code."""
    enrolment = await accounts.begin_totp(user.id, CTX)
    assert isinstance(enrolment, totp.Enrolment)
    key = enrolment.manual_key
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    confirmed = await accounts.confirm_totp(user.id, totp.generate(secret, clock()), CTX)
    assert not isinstance(confirmed, Refusal), confirmed
    clock.advance(totp.STEP)
    return secret


async def give_two_factor(accounts: Accounts, user: UserRecord) -> UserRecord:
    now = accounts.deps.now()
    async with accounts.store.transaction() as tx:
        await tx.set_two_factor_enabled(user.id, now)
        await tx.mark_two_factor(user.id, now)
        found = await tx.user_by_id(user.id)
    assert found is not None
    return found
