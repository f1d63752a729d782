"""Migrations build the schema from nothing, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import fcntl
import os
import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.exc import SAWarning
from store.store_fixtures import Database

from service.cli import main
from service.store import StoreError, migrate, open_store
from service.store.engine import create_engine
from service.store.models import Base

pytestmark = pytest.mark.anyio

TABLES = {
    "users",
    "totp_credentials",
    "recovery_codes",
    "audit_events",
    "webauthn_credentials",
    "webauthn_challenges",
    "projects",
    "project_roles",
    "organizations",
    "organization_members",
    "invitations",
    "sessions",
    "known_devices",
    "trusted_publishers",
    "pending_publishers",
    "api_tokens",
    "staging_policies",
    "staged_releases",
    "staged_files",
    "staging_challenges",
    "minted_tokens",
    "trust_state",
    "trust_changes",
    "alembic_version",
}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _drift(conn: Connection) -> list[object]:
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes; alembic says so and skips them.
        warnings.filterwarnings("ignore", "autogenerate skipping", UserWarning)
        warnings.filterwarnings("ignore", "Skipped unsupported reflection", SAWarning)
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


async def test_migrations_build_every_table_from_empty(database: Database) -> None:
    engine = database.engine()
    try:
        assert await migrate.current(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current(engine) == migrate.head()
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) == TABLES
            # The models and the hand-written revision describe the same schema.
            assert await conn.run_sync(_drift) == []
        await migrate.upgrade(engine)  # a second run is a no-op
    finally:
        await engine.dispose()


async def test_sqlite_file_is_created_and_migrated_on_first_use(tmp_path: Path) -> None:
    path = tmp_path / "data" / "first.sqlite3"
    path.parent.mkdir()
    assert not path.exists()
    store = await open_store(f"sqlite+aiosqlite:///{path}")
    await store.close()
    assert path.exists()
    store = await open_store(f"sqlite+aiosqlite:///{path}")  # reopening does not re-create
    try:
        assert await migrate.current(store.engine) == migrate.head()
    finally:
        await store.close()


async def test_postgres_not_at_head_is_refused_with_the_fix(postgres: Database) -> None:
    wanted = rf"revision none, this code needs {migrate.head()}: run `mintgate db"
    with pytest.raises(StoreError, match=wanted):
        await open_store(postgres.url, **postgres.options)


def test_db_upgrade_command_migrates_the_configured_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MINTGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    assert main(["db", "upgrade"]) == 0
    assert f"is at revision {migrate.head()}" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert f"is at revision {migrate.head()}" in capsys.readouterr().out


def test_db_command_never_prints_a_database_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 1 refuses at once; the message must name the database, not its password.
    monkeypatch.setenv("MINTGATE_DATABASE_URL", "postgresql://mg:hunter2secret@127.0.0.1:1/x")
    assert main(["db", "upgrade"]) == 1
    captured = capsys.readouterr()
    assert "hunter2secret" not in captured.out + captured.err
    assert "postgresql+asyncpg://mg:***@127.0.0.1:1/x" in captured.err


async def test_0002_upgrades_a_populated_0001_database(database: Database) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import text

    engine = database.engine()
    try:
        await migrate.upgrade(engine, "0001")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO users (username, email, password_hash, created_at)"
                    " VALUES ('alice', 'a@example.org', 'h', :now)"
                ),
                {"now": datetime(2026, 11, 25, tzinfo=UTC)},
            )
        await migrate.upgrade(engine, "0002")
        assert await migrate.current(engine) == "0002"
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    store = await open_store(database.url, **database.options)
    try:
        async with store.transaction() as tx:
            alice = await tx.user_by_name("alice")
            assert alice is not None
            assert alice.last_two_factor_at is None
            assert (await tx.exposure(alice.id)).any is False
    finally:
        await store.close()


def _staged_release_indexes(conn: Connection) -> set[str]:
    return {str(i["name"]) for i in inspect(conn).get_indexes("staged_releases")}


async def test_0008_stamps_approvals_already_under_way_and_downgrades_cleanly(
    database: Database,
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    then = datetime(2026, 11, 25, tzinfo=UTC)
    engine = database.engine()
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            indexes = await conn.run_sync(_staged_release_indexes)
        await migrate.downgrade(engine, "0007")
        async with engine.connect() as conn:
            # SQLite rebuilds the table to drop the column: its indexes come back with it.
            assert await conn.run_sync(_staged_release_indexes) == indexes
        async with engine.begin() as conn:
            # What a process that died mid-approval under 0007 left behind.
            await conn.execute(
                text(
                    "INSERT INTO projects (name, normalized_name, created_at,"
                    " two_factor_required) VALUES ('Sample', 'sample', :t, false)"
                ),
                {"t": then},
            )
            await conn.execute(
                text(
                    "INSERT INTO staged_releases (project_id, project, version, status,"
                    " staged_at, expires_at) SELECT id, 'sample', '1.0', 'approving', :t, :t"
                    " FROM projects"
                ),
                {"t": then},
            )
        before = datetime.now(UTC)
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    store = await open_store(database.url, **database.options)
    try:
        async with store.transaction() as tx:
            [stuck] = await tx.staged_releases(None, ("approving",))
    finally:
        await store.close()
    # Stamped with the migration's time: the sweep recovers it once the bound has passed.
    assert stuck.approving_since is not None
    assert before - timedelta(seconds=1) <= stuck.approving_since <= datetime.now(UTC)


async def test_a_migration_waits_while_another_process_migrates_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `mintgate serve` with several workers opens the embedded database in each at once.
    # Without turns both run the same steps, and one fails on alembic_version.
    database = str(tmp_path / "shared.sqlite3")
    flock = fcntl.flock
    refused = asyncio.Event()

    def watched(fd: Any, operation: int) -> None:
        try:
            flock(fd, operation)
        except BlockingIOError:
            refused.set()
            raise

    monkeypatch.setattr(fcntl, "flock", watched)
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        other = os.open(migrate.lock_file(database), os.O_RDWR | os.O_CREAT)  # as if a process
        try:
            flock(other, fcntl.LOCK_EX)
            upgrading = asyncio.create_task(migrate.upgrade(engine))
            async with asyncio.timeout(10):
                await refused.wait()
            assert await migrate.current(engine) is None
        finally:
            os.close(other)
        await upgrading
        assert await migrate.current(engine) == migrate.head()
    finally:
        await engine.dispose()
