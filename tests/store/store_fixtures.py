"""Databases for tests: a SQLite file or a PostgreSQL schema of the test's own.

Shared by tests/store and tests/accounts through their conftest files. The
real PostgreSQL on this machine is used; when it is down these fixtures
fail, they never skip (CI=true turns a skip into a failure anyway).

A test that opens a store gets its database already migrated: a copy of the
session's migrated SQLite file, or a pooled PostgreSQL schema reset to its
freshly migrated state (schema_pool.py). Any other test gets an empty one, to
migrate (or not) as it likes.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlitetemplate
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from store.schema_pool import SchemaPool, search_path

from service.store import SqlStore, migrate, open_store
from service.store.engine import create_engine

PG_URL = os.environ.get(
    "MINTGATE_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SCHEMA_PREFIX = "mintgate_test_"


@dataclass
class Database:
    """A database of the test's own: empty unless `migrated`."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    migrated: bool = False

    def engine(self) -> AsyncEngine:
        return create_engine(self.url, **self.options)

    async def migrated_store(self) -> SqlStore:
        if self.kind == "postgresql" and not self.migrated:
            # PostgreSQL is migrated deliberately (as `mintgate db upgrade` does);
            # open_store only checks the revision.
            engine = self.engine()
            try:
                await migrate.upgrade(engine)
            finally:
                await engine.dispose()
        return await open_store(self.url, **self.options)


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[Database]:
    # A schema per test, found through search_path: tables, indexes and
    # alembic_version all land in it, and dropping it removes every trace.
    schema = SCHEMA_PREFIX + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield Database("postgresql", PG_URL, search_path(schema))
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


_POOL = pytest.StashKey[SchemaPool]()


def schema_pool(config: pytest.Config) -> SchemaPool:
    """The session's pool of migrated schemas, dropped when the session ends."""
    if _POOL not in config.stash:
        pool = config.stash[_POOL] = SchemaPool(PG_URL, SCHEMA_PREFIX)
        config.add_cleanup(lambda: asyncio.run(pool.drop_all()))
    return config.stash[_POOL]


@asynccontextmanager
async def pooled_schema(pool: SchemaPool) -> AsyncIterator[Database]:
    schema = await pool.take()
    try:
        yield Database("postgresql", PG_URL, search_path(schema), migrated=True)
    finally:
        pool.give_back(schema)


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    if kind == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'mintgate.sqlite3'}")
        return
    async with postgres_schema() as database:
        yield database


@asynccontextmanager
async def migrated_database(
    kind: str, tmp_path: Path, config: pytest.Config
) -> AsyncIterator[Database]:
    """Migrated already: a copy of the session's SQLite template, or a pooled schema."""
    if kind == "sqlite":
        path = tmp_path / "mintgate.sqlite3"
        yield Database("sqlite", sqlitetemplate.copy_to(path), migrated=True)
        return
    async with pooled_schema(schema_pool(config)) as database:
        yield database


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    # The store fixture would migrate it before the test starts anyway.
    if "store" in request.fixturenames:
        opened = migrated_database(request.param, tmp_path, request.config)
    else:
        opened = fresh_database(request.param, tmp_path)
    async with opened as db:
        yield db


@pytest.fixture
async def postgres(request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """PostgreSQL only: for races that need real concurrent connections."""
    if "pg_store" in request.fixturenames:
        opened = pooled_schema(schema_pool(request.config))
    else:
        opened = postgres_schema()
    async with opened as db:
        yield db


@pytest.fixture
async def store(database: Database) -> AsyncIterator[SqlStore]:
    opened = await database.migrated_store()
    yield opened
    await opened.close()


@pytest.fixture
async def pg_store(postgres: Database) -> AsyncIterator[SqlStore]:
    opened = await postgres.migrated_store()
    yield opened
    await opened.close()
