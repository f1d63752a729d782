"""The trust change feed (migration 0012): every writer of trust is seen, on both databases."""

from __future__ import annotations

import asyncio
import importlib
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from publishingkit import table
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from store.store_fixtures import Database

from service.issuers import Issuers
from service.store import SqlStore, open_store
from service.store.engine import create_engine
from service.store.models_publishing import TrustedPublisher
from service.store.records_publishing import TrustFeed
from service.store.sql_trustfeed import FeedReader
from service.trust import TrustUnavailable
from service.trust.sql import SqlTrustFeed
from service.trust.tables import publisher_spec

pytestmark = pytest.mark.anyio

NOW = datetime(2027, 1, 15, tzinfo=UTC)
SAMPLE = ("https://token.actions.githubusercontent.com", "octo-org/sampleproject")
OTHER = ("https://token.actions.githubusercontent.com", "octo-org/other")
# Columns a publisher's answer is not built from: writing them is no trust change.
UNWATCHED = {"id", "last_used_at", "last_run_id"}


async def feed(store: SqlStore, since: int = 0, limit: int = 100) -> TrustFeed:
    return await store.read_trust_feed(since, limit=limit)


async def add(store: SqlStore, issuers: Issuers, project: str = "sampleproject", **kw: Any) -> int:
    _, spec = publisher_spec(table(**kw), issuers)
    async with store.transaction() as tx:
        found = await tx.project_by_name(project) or await tx.add_project(project, project, NOW)
        return (await tx.add_publisher(found.id, spec, source="api", created_by=None, now=NOW)).id


def test_the_triggers_watch_every_column_a_publisher_is_built_from() -> None:
    migration = importlib.import_module("service.store.migrations.versions.0012_trust_changes")
    columns = {c.name for c in inspect(TrustedPublisher).columns}
    assert set(migration.WATCHED) == columns - UNWATCHED


async def test_adding_a_publisher_is_a_change_of_its_key(store: SqlStore, issuers: Issuers) -> None:
    before = await feed(store)
    await add(store, issuers)
    after = await feed(store, before.version)
    assert after.version == before.version + 1
    assert after.keys == (SAMPLE,)


async def test_removing_freezing_pinning_and_stage_only_are_changes(
    store: SqlStore, issuers: Issuers
) -> None:
    publisher = await add(store, issuers)
    async with store.transaction() as tx:
        project = await tx.project_by_name("sampleproject")
        assert project is not None
    steps = [
        lambda tx: tx.set_publisher_frozen(publisher, NOW),
        lambda tx: tx.set_publisher_frozen(publisher, None),
        lambda tx: tx.set_publisher_stage_only(publisher, True),
        lambda tx: tx.pin_publisher_repository_id(publisher, "89012345"),
        lambda tx: tx.delete_publisher(project.id, publisher),
    ]
    for step in steps:
        seen = (await feed(store)).version
        async with store.transaction() as tx:
            await step(tx)
        changed = await feed(store, seen)
        assert changed.version > seen
        assert set(changed.keys) == {SAMPLE}


async def test_a_project_state_change_names_every_key_of_the_project(
    store: SqlStore, issuers: Issuers
) -> None:
    await add(store, issuers)
    await add(store, issuers, repository="octo-org/other")
    seen = (await feed(store)).version
    async with store.transaction() as tx:
        project = await tx.project_by_name("sampleproject")
        assert project is not None
        await tx.set_project_state(project.id, "quarantined")
    assert set((await feed(store, seen)).keys) == {SAMPLE, OTHER}


async def test_a_mint_recording_last_use_is_no_change(store: SqlStore, issuers: Issuers) -> None:
    publisher = await add(store, issuers)
    seen = (await feed(store)).version
    async with store.transaction() as tx:
        await tx.mark_publisher_used([publisher], NOW, "12345")
    assert (await feed(store, seen)).version == seen


async def test_a_deleted_project_cascades_into_the_feed(store: SqlStore, issuers: Issuers) -> None:
    """No code path deletes a project yet; an operator's SQL or a future one is seen too."""
    await add(store, issuers)
    seen = (await feed(store)).version
    async with store.transaction() as tx:
        await tx.session.execute(  # type: ignore[attr-defined]
            text("DELETE FROM projects WHERE normalized_name = 'sampleproject'")
        )
    assert (await feed(store, seen)).keys == (SAMPLE,)


async def test_a_rolled_back_change_is_not_in_the_feed(store: SqlStore, issuers: Issuers) -> None:
    seen = (await feed(store)).version
    _, spec = publisher_spec(table(), issuers)

    async def add_then_fail() -> None:
        async with store.transaction() as tx:
            project = await tx.add_project("sampleproject", "sampleproject", NOW)
            await tx.add_publisher(project.id, spec, source="api", created_by=None, now=NOW)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await add_then_fail()
    assert (await feed(store, seen)).version == seen


async def test_more_changes_than_the_limit_say_truncated(store: SqlStore, issuers: Issuers) -> None:
    for n in range(3):
        await add(store, issuers, repository=f"octo-org/p{n}")
    listed = await feed(store, 0, limit=2)
    assert listed.truncated
    assert len(listed.keys) == 2


async def test_trimming_raises_the_mark_readers_behind_it_see(
    store: SqlStore, issuers: Issuers
) -> None:
    await add(store, issuers)
    version = (await feed(store)).version
    async with store.transaction() as tx:
        assert await tx.trim_trust_changes(before=2**40) == 1
    trimmed = await feed(store)
    assert trimmed.trimmed_through == version
    assert trimmed.keys == ()


async def test_a_second_writer_waits_for_the_first_so_versions_commit_in_order(
    pg_store: SqlStore, issuers: Issuers
) -> None:
    """Versions are taken under one row lock: a reader never sees N while N - 1 is open."""
    async with pg_store.transaction() as tx:
        project = await tx.add_project("sampleproject", "sampleproject", NOW)
    _, first = publisher_spec(table(repository="octo-org/first"), issuers)
    _, second = publisher_spec(table(repository="octo-org/second"), issuers)
    async with pg_store.transaction() as tx:
        await tx.add_publisher(project.id, first, source="api", created_by=None, now=NOW)
        late = asyncio.create_task(
            add(pg_store, issuers, repository="octo-org/second"), name="second writer"
        )
        await _until_a_backend_waits_on_a_lock(pg_store)
        assert not late.done()
        assert (await feed(pg_store)).version == 0  # nothing committed yet, from outside
    await late
    listed = await feed(pg_store)
    assert listed.keys == (
        ("https://token.actions.githubusercontent.com", "octo-org/first"),
        ("https://token.actions.githubusercontent.com", "octo-org/second"),
    )
    assert second.lookup_key == "octo-org/second"


async def _until_a_backend_waits_on_a_lock(store: SqlStore) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    for _ in range(500):
        async with store.engine.connect() as conn:
            if (await conn.execute(query)).scalar_one():
                return
    raise AssertionError("the second writer never waited")


# The feed's reader: one statement on a connection of its own, outside any transaction.


async def test_a_read_leaves_sqlite_free_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "mintgate.sqlite3"
    store = await open_store(f"sqlite+aiosqlite:///{path}")
    try:
        await feed(store)
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" at once, were a BEGIN open
            other.execute("ROLLBACK")
        finally:
            other.close()
    finally:
        await store.close()


def named(database: Database) -> tuple[dict[str, Any], str]:
    """Engine options for the test's schema whose connections carry a name of their own."""
    name = f"mintgate-feed-{uuid.uuid4().hex[:12]}"
    settings = {**database.options["connect_args"]["server_settings"], "application_name": name}
    return {"connect_args": {"server_settings": settings}}, name


@asynccontextmanager
async def named_reader(database: Database) -> AsyncIterator[tuple[FeedReader, str]]:
    options, name = named(database)
    engine = create_engine(database.url, **options)
    reader = FeedReader(engine)
    try:
        yield reader, name
    finally:
        await reader.close()
        await engine.dispose()


async def backends(store: SqlStore, name: str, *, waiting: bool = False) -> list[str]:
    """The state of each connection carrying `name` (only those waiting on a lock)."""
    query = "SELECT state FROM pg_stat_activity WHERE application_name = :name"
    if waiting:
        query += " AND wait_event_type = 'Lock'"
    async with store.engine.connect() as conn:
        found = await conn.execute(text(query), {"name": name})
        return [str(state) for state in found.scalars()]


async def test_a_read_is_one_connection_idle_outside_a_transaction(
    postgres: Database, pg_store: SqlStore
) -> None:
    async with named_reader(postgres) as (reader, name):
        for _ in range(3):
            assert (await reader.read(0, limit=10)).version == 0
        assert await backends(pg_store, name) == ["idle"]  # not "idle in transaction"
        await reader.close()
        assert await backends(pg_store, name) == []


async def test_a_killed_connection_fails_one_read_and_the_next_reconnects(
    postgres: Database, pg_store: SqlStore, issuers: Issuers
) -> None:
    async with named_reader(postgres) as (reader, name):
        await reader.read(0, limit=10)
        async with pg_store.engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": name},
            )
        with pytest.raises(DBAPIError):
            await reader.read(0, limit=10)
        await add(pg_store, issuers)
        assert (await reader.read(0, limit=10)).keys == (SAMPLE,)
        assert await backends(pg_store, name) == ["idle"]


async def test_a_read_cancelled_mid_statement_drops_its_connection(
    postgres: Database, pg_store: SqlStore
) -> None:
    """Cancelled mid-statement, the connection's state is unknown: never used again."""
    async with named_reader(postgres) as (reader, name):
        await reader.read(0, limit=10)
        async with pg_store.engine.connect() as conn:
            await conn.execute(text("LOCK TABLE trust_state IN ACCESS EXCLUSIVE MODE"))
            read = asyncio.create_task(reader.read(0, limit=10))
            for _ in range(500):
                if await backends(pg_store, name, waiting=True):
                    break
            else:
                raise AssertionError("the read never waited for the lock")
            read.cancel()
            with pytest.raises(asyncio.CancelledError):
                await read
            await conn.rollback()
        assert (await reader.read(0, limit=10)).version == 0
        assert await backends(pg_store, name) == ["idle"]


async def test_closing_the_store_closes_its_feed_connection(
    postgres: Database, pg_store: SqlStore
) -> None:
    options, name = named(postgres)
    store = await open_store(postgres.url, **options)
    await store.read_trust_feed(0, limit=10)
    assert await backends(pg_store, name) == ["idle"]
    await store.close()
    assert await backends(pg_store, name) == []


async def test_a_missing_state_row_is_an_outage_not_a_crash(
    store: SqlStore, issuers: Issuers
) -> None:
    """Without its row the feed cannot say what is current: the index answers from SQL."""
    async with store.transaction() as tx:
        await tx.session.execute(text("DELETE FROM trust_state"))  # type: ignore[attr-defined]
    with pytest.raises(TrustUnavailable):
        await SqlTrustFeed(store).read(0, limit=10)
