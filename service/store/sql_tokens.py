"""API token records over SQL: ids and metadata only, never a token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from service.store.models_publishing import ApiToken
from service.store.records_publishing import ApiTokenRecord
from service.store.sql_common import Steps, rowcount


def _token(row: ApiToken) -> ApiTokenRecord:
    return ApiTokenRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        projects=None if row.projects is None else tuple(row.projects),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class ApiTokenSql(Steps):
    async def add_api_token(
        self,
        token_id: str,
        user_id: int,
        name: str,
        projects: Sequence[str] | None,
        *,
        now: datetime,
        expires_at: datetime,
    ) -> ApiTokenRecord:
        row = ApiToken(
            id=token_id,
            user_id=user_id,
            name=name,
            projects=None if projects is None else list(projects),
            created_at=now,
            expires_at=expires_at,
        )
        self.session.add(row)
        await self.session.flush()
        return _token(row)

    async def api_token_by_id(self, token_id: str) -> ApiTokenRecord | None:
        row = await self.session.scalar(
            select(ApiToken)
            .where(ApiToken.id == token_id)
            .execution_options(populate_existing=True)
        )
        return None if row is None else _token(row)

    async def api_tokens_of(self, user_id: int) -> list[ApiTokenRecord]:
        rows = await self.session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at, ApiToken.id)
            .execution_options(populate_existing=True)
        )
        return [_token(r) for r in rows]

    async def revoke_api_token(self, token_id: str, at: datetime) -> bool:
        result = await self.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=at)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def mark_api_token_used(self, token_id: str, at: datetime) -> None:
        await self.session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(last_used_at=at)
            .execution_options(synchronize_session=False)
        )
