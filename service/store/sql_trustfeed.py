"""The trust change feed over SQL: read what changed since a version, trim old changes."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from service.store.models_trustfeed import TrustChange, TrustState
from service.store.records_publishing import TrustFeed
from service.store.sql_common import Steps, rowcount


class TrustFeedSql(Steps):
    async def trust_changes_since(self, since: int, *, limit: int) -> TrustFeed:
        state = (
            await self.session.execute(
                select(TrustState.version, TrustState.trimmed_through).where(TrustState.id == 1)
            )
        ).one()
        keys: list[tuple[str, str]] = []
        if state.version > since:
            rows = await self.session.execute(
                select(TrustChange.issuer, TrustChange.lookup_key)
                .where(TrustChange.version > since, TrustChange.version <= state.version)
                .order_by(TrustChange.id)
                .limit(limit + 1)
            )
            keys = [(row.issuer, row.lookup_key) for row in rows]
        return TrustFeed(
            version=state.version,
            trimmed_through=state.trimmed_through,
            keys=tuple(keys[:limit]),
            truncated=len(keys) > limit,
        )

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
