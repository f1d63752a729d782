"""What the account tests share (imported by name: tests/accounts is on sys.path)."""

from __future__ import annotations

import os

from argon2 import PasswordHasher
from fakeissuer import Clock

from service.accounts.accounts import Accounts, Context
from service.accounts.passwords import PasswordPolicy, Passwords
from service.accounts.secretbox import SecretBox
from service.store import SqlStore

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
