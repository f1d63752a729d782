"""Migration 0007 builds its indexes online on a big table, and migrations never deadlock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from scalekit import Statements, seeded
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from store.store_fixtures import Database

from service.store import migrate
from service.trust.seed import Plan

pytestmark = pytest.mark.anyio

INDEXES = ("ix_trusted_publishers_created_by_user_id", "ix_pending_publishers_publisher_id")
BIG = 10_000  # 0007's ONLINE_FROM_ROWS
LOCK = 0x6D696E74  # migrate._PG_MIGRATION_LOCK


async def _valid(engine: AsyncEngine) -> dict[str, bool]:
    """Each 0007 index that exists, and whether PostgreSQL may use it."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c"
                " ON c.oid = i.indexrelid WHERE c.oid IN (to_regclass(:a), to_regclass(:b))"
            ),
            {"a": INDEXES[0], "b": INDEXES[1]},
        )
        return {str(name): bool(valid) for name, valid in rows.all()}


async def test_0007_builds_concurrently_on_a_big_table_and_plainly_on_a_small_one(
    postgres: Database,
) -> None:
    await seeded(postgres, Plan(projects=100, publishers=BIG, issuers=1))
    engine = postgres.engine()
    try:
        await migrate.downgrade(engine, "0006")
        assert await _valid(engine) == {}
        statements = Statements(engine)
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head()
        assert await _valid(engine) == dict.fromkeys(INDEXES, True)
    finally:
        await engine.dispose()
    built = [s for s, _ in statements.matching("CREATE INDEX")]
    assert any(s.startswith("CREATE INDEX CONCURRENTLY") and INDEXES[0] in s for s in built)
    # pending_publishers is empty: a plain build, no wait for the database's transactions.
    assert any(s.startswith(f"CREATE INDEX {INDEXES[1]}") for s in built)


async def test_0007_replaces_an_invalid_index_a_failed_build_left(postgres: Database) -> None:
    engine = postgres.engine()
    try:
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "0006")
        async with engine.begin() as conn:
            # What an interrupted CREATE INDEX CONCURRENTLY leaves: the index, marked invalid.
            await conn.execute(text(f"CREATE INDEX {INDEXES[0]} ON trusted_publishers (id)"))
            await conn.execute(
                text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(:n)"),
                {"n": INDEXES[0]},
            )
        assert await _valid(engine) == {INDEXES[0]: False}
        await migrate.upgrade(engine)
        assert await _valid(engine) == dict.fromkeys(INDEXES, True)
        async with engine.connect() as conn:
            definition = await conn.scalar(text("SELECT pg_get_indexdef(to_regclass(:n))"),
                                           {"n": INDEXES[0]})  # fmt: skip
        assert "(created_by_user_id)" in str(definition)
    finally:
        await engine.dispose()


def _asking(engine: AsyncEngine) -> asyncio.Event:
    """Set once this engine has sent a request for the migration lock (either form)."""
    asked = asyncio.Event()

    def sent(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if "advisory_lock(" in statement:
            asked.set()

    event.listen(engine.sync_engine, "before_cursor_execute", sent)
    return asked


async def test_a_waiting_migration_never_deadlocks_a_concurrent_index_build(
    postgres: Database,
) -> None:
    holder, waiter = postgres.engine(), postgres.engine()
    try:
        await migrate.upgrade(holder)
        async with holder.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK})
            try:
                asked = _asking(waiter)
                waiting = asyncio.create_task(migrate.upgrade(waiter))
                async with asyncio.timeout(20):
                    await asked.wait()
                # The holder builds an index concurrently: it waits for every older
                # transaction. A waiter blocked inside pg_advisory_lock() would be one,
                # itself waiting for the holder: deadlock. Polling outside a transaction is not.
                await conn.execute(
                    text("CREATE INDEX CONCURRENTLY ix_probe ON projects (created_at)")
                )
                assert not waiting.done()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK})
        await waiting
        assert await migrate.current(waiter) == migrate.head()
        async with holder.connect() as conn:
            # Released after the migration: the next one takes it at once.
            assert await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK})
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK})
    finally:
        await holder.dispose()
        await waiter.dispose()
