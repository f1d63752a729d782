"""Alembic, driven from code: no alembic.ini, one script directory inside the package.

`upgrade` runs on a connection we hand to env.py, so the same migrations run
for the CLI, for the embedded SQLite created on first use, and in tests.
"""

from __future__ import annotations

import asyncio
import fcntl
import functools
import os
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, RevisionStep
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Any constant works; it only has to be the same in every replica, so two
# replicas running `db upgrade` at once take turns instead of racing.
_PG_MIGRATION_LOCK = 0x6D696E74
_LOCK_POLL_SECONDS = 0.2
# An embedded file is migrated by whichever process opens it first; the others wait
# about this long between looks (a second worker starts within a fraction of a second).
_FILE_LOCK_POLL_SECONDS = 0.05


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser interpolation would read a % in a password as a reference.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    # Alembic's commands build a ScriptDirectory per call, which compiles and runs every
    # migration file again: once per process is enough, the files do not change under us.
    scripts = ScriptDirectory.from_config(alembic_config())
    scripts.get_current_head()  # loads the revision map now, not in whichever call is first
    return scripts


def head() -> str | None:
    return _scripts().get_current_head()


async def current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate to `revision` in one transaction (DDL is transactional on both databases).

    Alembic owns that transaction, so a migration may step out of it with an
    autocommit block (0007's CREATE INDEX CONCURRENTLY): what ran before is
    committed first. On PostgreSQL the lock is held by the session, not the
    transaction, so it outlives such a commit.
    """
    await _migrate(engine, ScriptDirectory._upgrade_revs, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Back to `revision`, under the same lock (tests and the online-migration bench)."""
    await _migrate(engine, ScriptDirectory._downgrade_revs, revision)


# Alembic runs each migration through one module-global `context` proxy, so two stores
# opened at once in one process (two apps, or an app and a CLI command) would trample
# each other's: they take turns, one lock per event loop.
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


# What alembic.command.upgrade and .downgrade hand to env.py, over our cached scripts.
_Steps = Callable[[ScriptDirectory, str, str], list[RevisionStep]]


async def _migrate(engine: AsyncEngine, steps: _Steps, revision: str) -> None:
    turn = _turns.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with turn, _file_turn(engine), engine.connect() as conn:
        locked = conn.dialect.name == "postgresql"
        if locked:
            await _lock(conn)
        try:
            await conn.run_sync(_run, steps, revision)
        except BaseException:
            if locked:
                await conn.invalidate()  # ending the session releases its lock
            raise
        if locked:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_MIGRATION_LOCK})
            await conn.commit()


async def _lock(conn: AsyncConnection) -> None:
    """Take the session's migration lock by polling, never by waiting inside a statement.

    A replica blocked in pg_advisory_lock() would sit in a transaction, and
    CREATE INDEX CONCURRENTLY in the holder waits for every older transaction
    to end: a deadlock. Between polls this connection is in no transaction.
    """
    while True:
        taken = await conn.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
        )
        await conn.commit()  # alembic then begins its own transaction on an idle connection
        if taken:
            return
        await asyncio.sleep(_LOCK_POLL_SECONDS)


def lock_file(database: str) -> str:
    """The lock file beside an SQLite database (it stays, empty, once made)."""
    return f"{database}-migrate.lock"


@asynccontextmanager
async def _file_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """Processes migrating one SQLite file take turns, by a lock file beside it.

    `mintgate serve` with several workers opens the embedded database in each at
    once: without turns, both run the same steps and one fails on alembic_version
    (its trust then answers 503 until a retry). The second waits here, then finds
    the file at head. A lock file, not the database: closing any other descriptor
    of the database would drop the POSIX locks SQLite holds on it in this process.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock = os.open(lock_file(database), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                await asyncio.sleep(_FILE_LOCK_POLL_SECONDS)
            else:
                break
        yield
    finally:
        os.close(lock)  # and the lock with it


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _run(conn: Connection, steps: _Steps, revision: str) -> None:
    # alembic.command.upgrade/downgrade, less the ScriptDirectory each builds afresh.
    scripts = _scripts()
    config = alembic_config()
    config.attributes["connection"] = conn

    def plan(current: Any, context: MigrationContext) -> list[RevisionStep]:
        return steps(scripts, revision, current)

    with EnvironmentContext(config, scripts, fn=plan, destination_rev=revision):
        scripts.run_env()
