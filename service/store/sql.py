"""SqlStore: the Store protocol over SQLAlchemy's async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.store import migrate
from service.store.base import (
    AuditEvent,
    AuditRecord,
    StoreError,
    TotpRecord,
    Transaction,
    UsernameTaken,
    UserRecord,
)
from service.store.engine import create_engine, display_url, is_sqlite
from service.store.models import AuditEventRow, RecoveryCode, TotpCredential, User

log = logging.getLogger(__name__)


class SqlStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._sessions() as session, session.begin():
            yield SqlTransaction(session)

    async def close(self) -> None:
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


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _user(row: User) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        email=row.email,
        password_hash=row.password_hash,
        created_at=row.created_at,
        two_factor_enabled_at=row.two_factor_enabled_at,
    )


class SqlTransaction:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_user(
        self, username: str, email: str, password_hash: str, now: datetime
    ) -> UserRecord:
        if await self.user_by_name(username) is not None:
            raise UsernameTaken(f"username {username!r} is taken")
        row = User(username=username, email=email, password_hash=password_hash, created_at=now)
        try:
            # A savepoint: the unique index settles a race with a concurrent
            # insert, and the caller's transaction stays usable on PostgreSQL.
            async with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError:
            raise UsernameTaken(f"username {username!r} is taken") from None
        return _user(row)

    async def user_by_name(self, username: str) -> UserRecord | None:
        row = await self.session.scalar(
            select(User).where(func.lower(User.username) == username.lower())
        )
        return None if row is None else _user(row)

    async def user_by_id(self, user_id: int) -> UserRecord | None:
        row = await self.session.get(User, user_id)
        return None if row is None else _user(row)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(password_hash=password_hash)
        )

    async def set_two_factor_enabled(self, user_id: int, at: datetime) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(two_factor_enabled_at=at)
        )

    async def put_totp(self, user_id: int, secret_ciphertext: bytes, now: datetime) -> None:
        existing = await self.totp_for(user_id)
        if existing is not None and existing.confirmed_at is not None:
            raise StoreError("a confirmed TOTP credential exists; remove it before enrolling again")
        await self.session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
        self.session.add(
            TotpCredential(user_id=user_id, secret_ciphertext=secret_ciphertext, created_at=now)
        )
        await self.session.flush()

    async def totp_for(self, user_id: int) -> TotpRecord | None:
        row = await self.session.scalar(
            select(TotpCredential).where(TotpCredential.user_id == user_id)
        )
        if row is None:
            return None
        return TotpRecord(
            user_id=row.user_id,
            secret_ciphertext=row.secret_ciphertext,
            created_at=row.created_at,
            confirmed_at=row.confirmed_at,
            last_used_step=row.last_used_step,
        )

    async def confirm_totp(self, user_id: int, at: datetime) -> None:
        await self.session.execute(
            update(TotpCredential)
            .where(TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_(None))
            .values(confirmed_at=at)
        )

    async def claim_totp_step(self, user_id: int, step: int) -> bool:
        # Compare-and-set in one statement: PostgreSQL re-checks the WHERE after
        # waiting for a concurrent writer's row lock, SQLite runs writers one at a
        # time, so of two uses of one code exactly one updates a row.
        result = await self.session.execute(
            update(TotpCredential)
            .where(
                TotpCredential.user_id == user_id,
                (TotpCredential.last_used_step.is_(None)) | (TotpCredential.last_used_step < step),
            )
            .values(last_used_step=step)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    async def replace_recovery_codes(
        self, user_id: int, code_hashes: Sequence[str], now: datetime
    ) -> None:
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        self.session.add_all(
            RecoveryCode(user_id=user_id, code_hash=h, created_at=now) for h in code_hashes
        )
        await self.session.flush()

    async def redeem_recovery_code(self, user_id: int, code_hash: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(RecoveryCode)
            .where(
                RecoveryCode.user_id == user_id,
                RecoveryCode.code_hash == code_hash,
                RecoveryCode.used_at.is_(None),
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(result) == 1

    async def unused_recovery_codes(self, user_id: int) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        return int(count or 0)

    async def record(self, event: AuditEvent) -> None:
        self.session.add(
            AuditEventRow(
                occurred_at=event.occurred_at,
                event=event.event,
                actor=event.actor,
                actor_user_id=event.actor_user_id,
                subject_user_id=event.subject_user_id,
                subject_project=event.subject_project,
                ip=event.ip,
                user_agent=event.user_agent,
                details=dict(event.details),
            )
        )
        await self.session.flush()

    async def audit_events(self, subject_user_id: int | None = None) -> list[AuditRecord]:
        query = select(AuditEventRow).order_by(AuditEventRow.id)
        if subject_user_id is not None:
            query = query.where(AuditEventRow.subject_user_id == subject_user_id)
        return [
            AuditRecord(
                id=row.id,
                occurred_at=row.occurred_at,
                event=row.event,
                actor=row.actor,
                actor_user_id=row.actor_user_id,
                subject_user_id=row.subject_user_id,
                subject_project=row.subject_project,
                ip=row.ip,
                user_agent=row.user_agent,
                details=row.details,
            )
            for row in await self.session.scalars(query)
        ]
