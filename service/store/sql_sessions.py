"""Login sessions over SQL: create, find by hash, complete the second factor, revoke;
and the devices a user signed in from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from service.store.models_sessions import KnownDevice, LoginSession
from service.store.records import SessionRecord
from service.store.sql_common import Steps, rowcount

# Column sizes: a longer user agent is cut, never refused (it is only for the audit).
MAX_USER_AGENT = 512
MAX_IP = 45


def _record(row: LoginSession) -> SessionRecord:
    return SessionRecord(
        id=row.id,
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        pending=row.pending,
        second_factor_at=row.second_factor_at,
        ip=row.ip,
        user_agent=row.user_agent,
    )


class SessionSql(Steps):
    async def add_session(
        self,
        token_hash: str,
        user_id: int,
        *,
        now: datetime,
        expires_at: datetime,
        pending: bool,
        ip: str | None,
        user_agent: str | None,
    ) -> SessionRecord:
        row = LoginSession(
            token_hash=token_hash,
            user_id=user_id,
            created_at=now,
            expires_at=expires_at,
            pending=pending,
            second_factor_at=None,
            ip=ip[:MAX_IP] if ip else None,
            user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
        )
        self.session.add(row)
        await self.session.flush()
        return _record(row)

    async def session_by_hash(self, token_hash: str) -> SessionRecord | None:
        row = await self.session.scalar(
            select(LoginSession)
            .where(LoginSession.token_hash == token_hash)
            .execution_options(populate_existing=True)
        )
        return None if row is None else _record(row)

    async def prove_session_second_factor(
        self, session_id: int, at: datetime, expires_at: datetime | None = None
    ) -> bool:
        values: dict[str, object] = {"pending": False, "second_factor_at": at}
        if expires_at is not None:
            values["expires_at"] = expires_at
        result = await self.session.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def delete_session(self, session_id: int) -> bool:
        result = await self.session.execute(
            delete(LoginSession).where(LoginSession.id == session_id)
        )
        return rowcount(result) == 1

    async def delete_sessions_of(self, user_id: int, *, keep: int | None = None) -> int:
        query = delete(LoginSession).where(LoginSession.user_id == user_id)
        if keep is not None:
            query = query.where(LoginSession.id != keep)
        return rowcount(await self.session.execute(query))

    async def delete_expired_sessions(self, now: datetime) -> int:
        result = await self.session.execute(
            delete(LoginSession).where(LoginSession.expires_at <= now)
        )
        return rowcount(result)

    async def touch_device(self, user_id: int, device_hash: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(KnownDevice)
            .where(KnownDevice.user_id == user_id, KnownDevice.device_hash == device_hash)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def add_device(self, user_id: int, device_hash: str, now: datetime, *, keep: int) -> None:
        self.session.add(
            KnownDevice(
                user_id=user_id, device_hash=device_hash, first_seen_at=now, last_seen_at=now
            )
        )
        await self.session.flush()
        # Bounded per user: someone holding the password and a second factor must not
        # grow the table without end; the devices seen least recently are forgotten.
        newest = (
            select(KnownDevice.id)
            .where(KnownDevice.user_id == user_id)
            .order_by(KnownDevice.last_seen_at.desc(), KnownDevice.id.desc())
            .limit(keep)
        )
        await self.session.execute(
            delete(KnownDevice).where(
                KnownDevice.user_id == user_id, KnownDevice.id.not_in(newest.scalar_subquery())
            )
        )
