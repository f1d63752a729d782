"""A PostgreSQL database of the test's own, and an admin connection that can cut it off.

The suite gets a fresh database (not a schema): the service reaches it through
MINTGATE_DATABASE_URL exactly as in production, and cutting connections by
database name (`pg_stat_activity.datname`) touches no other test's sessions.
The admin connection lives in the shared `test` database, so it survives what
it does to the service's database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from store.store_fixtures import PG_URL

from service.store import migrate
from service.store.engine import create_engine

DATABASE_PREFIX = "mintgate_rel_"


@dataclass
class Postgres:
    """The service's database, by name, and what an operator (or a failover) can do to it."""

    name: str
    url: str
    admin: AsyncEngine

    async def _run(self, sql: str, **params: object) -> list[object]:
        async with self.admin.connect() as conn:
            result = await conn.execute(text(sql), params)
            return list(result.scalars()) if result.returns_rows else []

    async def backends(self) -> int:
        """Connections open to the service's database right now."""
        found = await self._run(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :name", name=self.name
        )
        return int(str(found[0]))

    async def terminate(self) -> int:
        """pg_terminate_backend on every connection to the service's database."""
        killed = await self._run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = :name AND pid <> pg_backend_pid()",
            name=self.name,
        )
        return sum(1 for ok in killed if ok)

    async def refuse_connections(self) -> None:
        # Superusers included: with datallowconn off nobody gets in, so the outage holds.
        await self._run(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')

    async def allow_connections(self) -> None:
        await self._run(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    async def rows(self, sql: str) -> list[object]:
        """One column of a query in the service's database (run when it is reachable)."""
        engine = create_engine(self.url)
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql))).scalars())
        finally:
            await engine.dispose()


@asynccontextmanager
async def postgres_database() -> AsyncIterator[Postgres]:
    """A fresh database migrated to head (as `mintgate db upgrade` does), dropped afterwards."""
    name = DATABASE_PREFIX + uuid.uuid4().hex[:12]
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    # CREATE/DROP DATABASE refuse to run inside a transaction block.
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        database = Postgres(name, url, admin)
        try:
            engine = create_engine(url)
            try:
                await migrate.upgrade(engine)
            finally:
                await engine.dispose()
            yield database
        finally:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
