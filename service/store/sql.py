"""SqlStore: the Store protocol over SQLAlchemy's async engine (SQLite or PostgreSQL).

SqlTransaction is assembled from one step group per domain (sql_users,
sql_keys, sql_access, sql_audit, sql_sessions, sql_publishers, sql_tokens, sql_sweep,
sql_trustfeed),
all sharing the transaction's session.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from service.store import migrate
from service.store.base import StoreError, Transaction
from service.store.engine import create_engine, display_url, is_sqlite
from service.store.records_publishing import TrustFeed
from service.store.sql_access import InvitationSql, OrganizationSql, ProjectSql
from service.store.sql_audit import AuditSql
from service.store.sql_keys import SecurityKeySql
from service.store.sql_minted import MintedSql
from service.store.sql_publishers import PendingPublisherSql, PublisherSql
from service.store.sql_sessions import SessionSql
from service.store.sql_staging import StagingSql
from service.store.sql_sweep import HousekeepingSql
from service.store.sql_tokens import ApiTokenSql
from service.store.sql_trustfeed import FeedReader, TrustFeedSql
from service.store.sql_users import RecoverySql, TotpSql, UserSql

log = logging.getLogger(__name__)


class SqlTransaction(
    UserSql,
    TotpSql,
    RecoverySql,
    SecurityKeySql,
    ProjectSql,
    OrganizationSql,
    InvitationSql,
    AuditSql,
    SessionSql,
    PublisherSql,
    MintedSql,
    PendingPublisherSql,
    ApiTokenSql,
    HousekeepingSql,
    StagingSql,
    TrustFeedSql,
):
    """Every step of one change, over one session inside one database transaction."""


class SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._feed = FeedReader(engine)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._sessions() as session, session.begin():
            yield SqlTransaction(session)

    async def read_trust_feed(self, since: int, *, limit: int) -> TrustFeed:
        return await self._feed.read(since, limit=limit)

    async def close(self) -> None:
        await self._feed.close()
        await self.engine.dispose()


async def open_store(url: str, **engine_options: Any) -> SqlStore:
    """Connect; migrate an embedded SQLite file on first use, require PostgreSQL at head.

    SQLite is the no-set-up default, so it migrates itself. A shared PostgreSQL
    is migrated deliberately with `mintgate db upgrade`, never by whichever
    replica happens to start first with newer code.
    """
    engine = create_engine(url, **engine_options)
    try:
        if is_sqlite(url):
            await migrate.upgrade(engine)
        else:
            found, wanted = await migrate.current(engine), migrate.head()
            if found != wanted:
                raise StoreError(
                    f"database {display_url(url)} is at revision {found or 'none'},"
                    f" this code needs {wanted}: run `mintgate db upgrade`"
                )
    except BaseException:
        await engine.dispose()
        raise
    return SqlStore(engine)
