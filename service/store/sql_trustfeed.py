"""The trust change feed over SQL: read what changed since a version, trim old changes.

The trust index of every process reads the feed five times a second (trust/index.py),
so the read is `FeedReader`'s: one statement on a connection of its own, outside any
transaction. Through a pooled session the same read was a checkout and its ping, a
BEGIN, the SELECT and a COMMIT: four round trips and about 2 ms of CPU here, against
one and about 0.4 ms (BENCHMARKS.md, "Trust from the database").
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Table, bindparam, delete, func, select, true, update
from sqlalchemy.exc import NoResultFound
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.store.models_trustfeed import TrustChange, TrustState
from service.store.records_publishing import TrustFeed
from service.store.sql_common import Steps, rowcount

_STATE: Table = TrustState.__table__  # type: ignore[assignment]
_CHANGES: Table = TrustChange.__table__  # type: ignore[assignment]

# One statement, so one snapshot: the state row and the changes up to its version are
# read together. A change and the version it bumps commit in one transaction, so the
# changes this snapshot shows are exactly those up to its version (read in two
# statements, a change committed in between, or a trim, could fall between them).
# Ordered by version, so the version index answers a backlog of a million changes by
# reading the first `rows` of them (in the order of id it was a sort of all of them:
# 0.7 s, longer than a poll may take). With no change since, it is the state row
# alone, its change columns NULL.
_CHANGED = (
    select(_CHANGES.c.version, _CHANGES.c.issuer, _CHANGES.c.lookup_key)
    .where(_CHANGES.c.version > bindparam("since"))
    .order_by(_CHANGES.c.version)
    .limit(bindparam("rows"))
    .subquery()
)
_READ = (
    select(_STATE.c.version, _STATE.c.trimmed_through, _CHANGED.c.issuer, _CHANGED.c.lookup_key)
    .select_from(_STATE.outerjoin(_CHANGED, true()))
    .where(_STATE.c.id == 1)
    .order_by(_CHANGED.c.version)  # at most `rows` of them: the listing in commit order
)


class FeedReader:
    """Reads the trust feed on one connection it keeps, in autocommit.

    The connection is its own, not borrowed from the pool per read: a process holds one
    more connection to the database for as long as it follows the feed. Any failure, a
    cancellation included, drops the connection; the next read opens another (the
    engine's connect timeout bounds it), so a restarted database costs one failed read.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()  # a connection runs one statement at a time

    async def read(self, since: int, *, limit: int) -> TrustFeed:
        """The feed's version and the keys changed after `since` (at most `limit`)."""
        async with self._lock:
            connection = self._connection or await self._connect()
            try:
                rows = (await connection.execute(_READ, {"since": since, "rows": limit + 1})).all()
            except BaseException:
                await self._drop()
                raise
        if not rows:  # as `.one()` would: an error of the store, so the index answers from SQL
            raise NoResultFound("the trust feed's state row is missing")
        state = rows[0]
        keys = [(row.issuer, row.lookup_key) for row in rows if row.issuer is not None]
        return TrustFeed(
            version=state.version,
            trimmed_through=state.trimmed_through,
            keys=tuple(keys[:limit]),
            truncated=len(keys) > limit,
        )

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _connect(self) -> AsyncConnection:
        connection = await self.engine.connect()
        try:
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await connection.close()
            raise
        return self._connection

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.invalidate()
            finally:
                await connection.close()


class TrustFeedSql(Steps):
    async def trim_trust_changes(self, before: int) -> int:
        """Delete changes older than `before` (Unix seconds); raise the trimmed mark."""
        newest = await self.session.scalar(
            select(func.max(TrustChange.version)).where(TrustChange.changed_at < before)
        )
        if newest is None:
            return 0
        result = await self.session.execute(
            delete(TrustChange).where(TrustChange.version <= newest)
        )
        await self.session.execute(
            update(TrustState)
            .where(TrustState.id == 1, TrustState.trimmed_through < newest)
            .values(trimmed_through=newest)
        )
        return rowcount(result)
