"""The Store: one transaction per change, and races settled by the database."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from typing import cast

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, StatementError
from store.store_fixtures import PG_URL

from service.store import AuditEvent, SqlStore, Transaction, UsernameTaken
from service.store.sql import SqlTransaction

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def _user(store: SqlStore, name: str = "alice") -> int:
    async with store.transaction() as tx:
        return (await tx.add_user(name, f"{name}@example.org", "hash", NOW)).id


@pytest.mark.parametrize("again", ["alice", "ALICE", "Alice", "aLiCe"])
async def test_duplicate_username_in_any_case_is_refused(store: SqlStore, again: str) -> None:
    await _user(store, "Alice")
    with pytest.raises(UsernameTaken):
        await _user(store, again)
    async with store.transaction() as tx:
        found = await tx.user_by_name(again)
    assert found is not None
    assert found.username == "Alice"


async def test_concurrent_creation_of_one_username_lets_exactly_one_in(store: SqlStore) -> None:
    results = await asyncio.gather(
        *(_user(store, name) for name in ["bob", "BOB", "Bob", "bOb"]), return_exceptions=True
    )
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, UsernameTaken) for r in results) == 3


async def test_an_exception_mid_transaction_leaves_nothing_written(store: SqlStore) -> None:
    created: list[int] = []

    async def change() -> None:
        async with store.transaction() as tx:
            user = await tx.add_user("carol", "c@example.org", "hash", NOW)
            created.append(user.id)
            await tx.put_totp(user.id, b"ciphertext", NOW)
            await tx.replace_recovery_codes(user.id, ["a" * 64, "b" * 64], NOW)
            await tx.record(AuditEvent("user:created", "test", NOW, subject_user_id=user.id))
            raise RuntimeError("injected")

    with pytest.raises(RuntimeError, match="injected"):
        await change()
    [user_id] = created
    async with store.transaction() as tx:
        assert await tx.user_by_name("carol") is None
        assert await tx.totp_for(user_id) is None
        assert await tx.unused_recovery_codes(user_id) == 0
        assert await tx.audit_events() == []


async def test_a_database_error_in_the_last_step_undoes_the_earlier_ones(store: SqlStore) -> None:
    user_id = await _user(store)

    async def change() -> None:
        async with store.transaction() as tx:
            await tx.set_two_factor_enabled(user_id, NOW)
            await tx.record(AuditEvent("recovery-codes:issued", "test", NOW))
            # The same hash twice breaks the unique index at the final flush.
            await tx.replace_recovery_codes(user_id, ["d" * 64, "d" * 64], NOW)

    with pytest.raises(IntegrityError):
        await change()
    async with store.transaction() as tx:
        user = await tx.user_by_id(user_id)
        assert user is not None
        assert user.two_factor_enabled_at is None
        assert await tx.audit_events() == []


async def test_totp_step_is_claimed_only_forwards(store: SqlStore) -> None:
    user_id = await _user(store)
    async with store.transaction() as tx:
        await tx.put_totp(user_id, b"ciphertext", NOW)
        assert await tx.claim_totp_step(user_id, 100)
        assert not await tx.claim_totp_step(user_id, 100)  # the same step again
        assert not await tx.claim_totp_step(user_id, 99)  # an older one
        assert await tx.claim_totp_step(user_id, 101)
        record = await tx.totp_for(user_id)
    assert record is not None
    assert record.last_used_step == 101


async def backend_pid(tx: Transaction) -> int:
    """The PostgreSQL backend serving `tx` (its connection is pinned for the transaction)."""
    result = await cast(SqlTransaction, tx).session.execute(text("SELECT pg_backend_pid()"))
    return int(result.scalar_one())


async def waiting_on_a_lock(pid: int, blocked: asyncio.Future[bool]) -> None:
    """Until PostgreSQL itself reports backend `pid` blocked by another's lock.

    Asked on a connection of its own, so the answer does not depend on how the
    event loop schedules the blocked statement; each question is a round trip that
    lets the blocked statement run meanwhile. Bounded: 10 s, then the test fails.
    """
    deadline = asyncio.get_running_loop().time() + 10
    connection = await asyncpg.connect(PG_URL.replace("+asyncpg", ""))
    try:
        while not await connection.fetchval("SELECT cardinality(pg_blocking_pids($1)) > 0", pid):
            assert not blocked.done(), "the second statement finished without waiting"
            assert asyncio.get_running_loop().time() < deadline, "never saw the lock wait"
    finally:
        await connection.close()
    assert not blocked.done()


async def test_interleaved_claims_on_postgres_wait_for_the_row_lock(pg_store: SqlStore) -> None:
    """Both transactions have read 'never used'; the second UPDATE blocks on the
    first one's row lock, re-checks its WHERE after the commit, and matches nothing."""
    user_id = await _user(pg_store)
    async with pg_store.transaction() as tx:
        await tx.put_totp(user_id, b"ciphertext", NOW)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(pg_store.transaction())
        second = await stack.enter_async_context(pg_store.transaction())
        for tx in (first, second):
            record = await tx.totp_for(user_id)
            assert record is not None
            assert record.last_used_step is None
        assert await first.claim_totp_step(user_id, 500)
        pid = await backend_pid(second)
        blocked = asyncio.ensure_future(second.claim_totp_step(user_id, 500))
        await waiting_on_a_lock(pid, blocked)
        await cast(SqlTransaction, first).session.commit()
        assert await blocked is False


async def test_interleaved_recovery_redemptions_on_postgres_one_wins(pg_store: SqlStore) -> None:
    user_id = await _user(pg_store)
    async with pg_store.transaction() as tx:
        await tx.replace_recovery_codes(user_id, ["e" * 64], NOW)
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(pg_store.transaction())
        second = await stack.enter_async_context(pg_store.transaction())
        assert await first.redeem_recovery_code(user_id, "e" * 64, NOW)
        pid = await backend_pid(second)
        blocked = asyncio.ensure_future(second.redeem_recovery_code(user_id, "e" * 64, NOW))
        await waiting_on_a_lock(pid, blocked)
        await cast(SqlTransaction, first).session.commit()
        assert await blocked is False


async def test_audit_events_keep_details_and_aware_utc_times(store: SqlStore) -> None:
    user_id = await _user(store)
    local = NOW.astimezone(timezone(timedelta(hours=2)))
    event = AuditEvent(
        "totp:used",
        actor="alice",
        occurred_at=local,
        actor_user_id=user_id,
        subject_user_id=user_id,
        subject_project="sampleproject",
        ip="2001:db8::1",
        user_agent="pytest",
        details={"step": 5, "nested": {"ok": True}},
    )
    async with store.transaction() as tx:
        await tx.record(event)
    async with store.transaction() as tx:
        [stored] = await tx.audit_events(subject_user_id=user_id)
    assert stored.occurred_at == NOW
    assert stored.occurred_at.tzinfo == UTC
    assert stored.details == {"step": 5, "nested": {"ok": True}}
    assert (stored.ip, stored.subject_project) == ("2001:db8::1", "sampleproject")


async def test_a_naive_datetime_is_refused(store: SqlStore) -> None:
    naive = datetime(2026, 1, 1)  # no tzinfo

    async def change() -> None:
        async with store.transaction() as tx:
            await tx.add_user("dave", "d@example.org", "hash", naive)

    with pytest.raises(StatementError, match="naive datetime"):
        await change()
