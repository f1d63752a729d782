"""Alembic environment for both SQLite and PostgreSQL.

Given an idle connection (service.store.migrate), migrate on it in one
transaction that alembic begins, so a migration can commit it early for an
autocommit block. Run by the `alembic` tool instead, build an async engine from
sqlalchemy.url and do the same.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from service.store import (
    models_access,  # noqa: F401  (its tables join Base.metadata)
    models_publishing,  # noqa: F401  (likewise)
    models_sessions,  # noqa: F401  (likewise)
    models_staging,  # noqa: F401  (likewise)
    models_trustfeed,  # noqa: F401  (likewise)
)
from service.store.engine import create_engine
from service.store.models import Base


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        # Not begin(): alembic begins (and may commit early for an autocommit block).
        async with engine.connect() as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported")
    given = context.config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url or use `mintgate db upgrade`")
    asyncio.run(run_with_engine(url))


main()
