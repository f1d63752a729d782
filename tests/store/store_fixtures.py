"""Databases for tests: a fresh SQLite file or a fresh PostgreSQL schema per test.

Shared by tests/store and tests/accounts through their conftest files. The
real PostgreSQL on this machine is used; when it is down these fixtures
fail, they never skip (CI=true turns a skip into a failure anyway).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from service.store import SqlStore, migrate, open_store
from service.store.engine import create_engine

PG_URL = os.environ.get(
    "MINTGATE_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SCHEMA_PREFIX = "mintgate_test_"


@dataclass
class Database:
    """An empty database: nothing created, nothing migrated yet."""

    kind: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    def engine(self) -> AsyncEngine:
        return create_engine(self.url, **self.options)

    async def migrated_store(self) -> SqlStore:
        if self.kind == "postgresql":
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
        yield Database(
            "postgresql", PG_URL, {"connect_args": {"server_settings": {"search_path": schema}}}
        )
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


@asynccontextmanager
async def fresh_database(kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    if kind == "sqlite":
        yield Database("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'mintgate.sqlite3'}")
        return
    async with postgres_schema() as database:
        yield database


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with fresh_database(request.param, tmp_path) as db:
        yield db


@pytest.fixture
async def postgres() -> AsyncIterator[Database]:
    """PostgreSQL only: for races that need real concurrent connections."""
    async with postgres_schema() as db:
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
