"""Creating users and checking passwords, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from accounts_helpers import CTX, PASSWORD, cheap_passwords
from fakeissuer import Clock

from service.accounts.accounts import Accounts
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord

pytestmark = pytest.mark.anyio


async def _create(accounts: Accounts, username: str = "alice") -> UserRecord:
    user = await accounts.create_user(username, f"{username}@example.org", PASSWORD, CTX)
    assert isinstance(user, UserRecord), user
    return user


async def test_a_created_user_is_stored_hashed_and_audited(
    accounts: Accounts, store: SqlStore, clock: Clock
) -> None:
    user = await _create(accounts, "Alice")
    assert user.username == "Alice"
    assert user.two_factor_enabled_at is None  # the 2FA gate will demand enrolment
    assert user.password_hash.startswith("$argon2id$")
    assert int(user.created_at.timestamp()) == clock.now
    async with store.transaction() as tx:
        [event] = await tx.audit_events(subject_user_id=user.id)
    assert (event.event, event.actor, event.ip, event.user_agent) == (
        "user:created",
        "test",
        "192.0.2.10",
        "pytest",
    )


@pytest.mark.parametrize("again", ["alice", "ALICE", "Alice"])
async def test_duplicate_username_in_any_case_is_refused(accounts: Accounts, again: str) -> None:
    await _create(accounts, "Alice")
    refused = await accounts.create_user(again, "x@example.org", PASSWORD + " 2", CTX)
    assert refused == Refusal("username-taken", f"username: {again!r} is taken")


@pytest.mark.parametrize(
    ("username", "email", "code"),
    [
        ("", "a@example.org", "invalid-username"),
        ("-alice", "a@example.org", "invalid-username"),
        ("al ice", "a@example.org", "invalid-username"),
        ("\u0430lice", "a@example.org", "invalid-username"),  # Cyrillic a: a look-alike
        ("a" * 51, "a@example.org", "invalid-username"),
        ("alice", "not-an-address", "invalid-email"),
        ("alice", "a@b@example.org", "invalid-email"),
        ("alice", "alice@example.org", "password-common"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    accounts: Accounts, store: SqlStore, username: str, email: str, code: str
) -> None:
    password = "iloveyou" if code == "password-common" else PASSWORD
    refused = await accounts.create_user(username, email, password, CTX)
    assert isinstance(refused, Refusal)
    assert refused.code == code
    async with store.transaction() as tx:
        assert await tx.audit_events() == []


async def test_password_check_accepts_the_right_one_only(
    accounts: Accounts, store: SqlStore
) -> None:
    user = await _create(accounts)
    assert await accounts.check_password("ALICE", PASSWORD, CTX) == user
    wrong = await accounts.check_password("alice", PASSWORD + "!", CTX)
    unknown = await accounts.check_password("mallory", PASSWORD, CTX)
    # One answer for both, so the response does not reveal which usernames exist.
    assert wrong == unknown == Refusal("invalid-credentials", "username or password is wrong")
    async with store.transaction() as tx:
        events = [e.event for e in await tx.audit_events(subject_user_id=user.id)]
    assert events == ["user:created", "login:password-failed"]


async def test_an_old_hash_is_upgraded_at_the_next_login(
    accounts: Accounts, store: SqlStore
) -> None:
    user = await _create(accounts)
    accounts.passwords = cheap_passwords(time_cost=2)  # the operator raised the cost
    assert isinstance(await accounts.check_password("alice", PASSWORD, CTX), UserRecord)
    async with store.transaction() as tx:
        stored = await tx.user_by_id(user.id)
        events = [e.event for e in await tx.audit_events(subject_user_id=user.id)]
    assert stored is not None
    assert stored.password_hash != user.password_hash
    assert "t=2" in stored.password_hash
    assert events[-1] == "user:password-rehashed"
