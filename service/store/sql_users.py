"""Users, TOTP credentials and recovery codes over SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update

from service.store.base import StoreError, UsernameTaken
from service.store.models import RecoveryCode, TotpCredential, User
from service.store.records import TotpRecord, UserRecord
from service.store.sql_common import Steps, rowcount, user_record


class UserSql(Steps):
    async def add_user(
        self, username: str, email: str, password_hash: str, now: datetime
    ) -> UserRecord:
        if await self.user_by_name(username) is not None:
            raise UsernameTaken(f"username {username!r} is taken")
        row = User(username=username, email=email, password_hash=password_hash, created_at=now)
        # The unique index settles a race with a concurrent insert.
        await self.insert(row, UsernameTaken(f"username {username!r} is taken"))
        return user_record(row)

    async def user_by_name(self, username: str) -> UserRecord | None:
        row = await self.session.scalar(
            select(User).where(func.lower(User.username) == username.lower())
        )
        return None if row is None else user_record(row)

    async def user_by_id(self, user_id: int) -> UserRecord | None:
        row = await self.session.get(User, user_id, populate_existing=True)
        return None if row is None else user_record(row)

    async def user_for_share(self, user_id: int) -> UserRecord | None:
        # FOR SHARE: a concurrent change of the user's row (2FA turned on, with the
        # revocation of its sessions) waits for this transaction, or this read waits
        # for that commit and sees it. SQLite runs writers one at a time anyway.
        row = await self.session.scalar(
            select(User)
            .where(User.id == user_id)
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
        return None if row is None else user_record(row)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(password_hash=password_hash)
        )

    async def set_two_factor_enabled(self, user_id: int, at: datetime | None) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(two_factor_enabled_at=at)
        )

    async def mark_two_factor(self, user_id: int, at: datetime | None) -> None:
        await self.session.execute(
            update(User).where(User.id == user_id).values(last_two_factor_at=at)
        )


class TotpSql(Steps):
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
            select(TotpCredential)
            .where(TotpCredential.user_id == user_id)
            .execution_options(populate_existing=True)
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
        return rowcount(result) == 1

    async def delete_totp(self, user_id: int) -> bool:
        result = await self.session.execute(
            delete(TotpCredential).where(TotpCredential.user_id == user_id)
        )
        return rowcount(result) == 1


class RecoverySql(Steps):
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
        return rowcount(result) == 1

    async def unused_recovery_codes(self, user_id: int) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        return int(count or 0)
