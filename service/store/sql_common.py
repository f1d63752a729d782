"""What the SQL step groups share: the session they run in and row converters."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.store.models import Base, User
from service.store.records import UserRecord


class Steps:
    """Base of every step group: SqlTransaction mixes them over one session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, row: object, clash: Exception) -> None:
        """Add one row; breaking a unique constraint raises `clash` instead.

        A savepoint, so the caller's transaction stays usable on PostgreSQL.
        """
        try:
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise clash from None

    async def insert_many(self, model: type[Base], rows: list[dict[str, Any]]) -> None:
        """Many rows in one executemany.

        Through the table, not the mapped class: the ORM's bulk insert would also fetch
        every new id back (RETURNING), about a third of a mint record's CPU.
        """
        if rows:
            await self.session.execute(insert(cast(Table, model.__table__)), rows)


def rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def user_record(row: User) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        email=row.email,
        password_hash=row.password_hash,
        created_at=row.created_at,
        two_factor_enabled_at=row.two_factor_enabled_at,
        last_two_factor_at=row.last_two_factor_at,
    )
