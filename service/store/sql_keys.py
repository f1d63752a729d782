"""WebAuthn security keys and their single-use challenges over SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from service.store.base import ChallengeOutcome, Duplicate
from service.store.models import RecoveryCode, TotpCredential
from service.store.models_access import SecurityKey, WebAuthnChallenge
from service.store.records import ChallengePurpose, SecurityKeyRecord
from service.store.sql_common import Steps, rowcount


def _key(row: SecurityKey) -> SecurityKeyRecord:
    return SecurityKeyRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        credential_id=row.credential_id,
        public_key=row.public_key,
        sign_count=row.sign_count,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


class SecurityKeySql(Steps):
    async def add_challenge(
        self,
        user_id: int,
        purpose: ChallengePurpose,
        challenge: bytes,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        # Expired challenges are dead weight: sweep them as new ones arrive.
        await self.session.execute(
            delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now)
        )
        self.session.add(
            WebAuthnChallenge(
                user_id=user_id,
                purpose=purpose,
                challenge=challenge,
                created_at=now,
                expires_at=expires_at,
            )
        )
        await self.session.flush()

    async def consume_challenge(
        self, user_id: int, purpose: ChallengePurpose, challenge: bytes, now: datetime
    ) -> ChallengeOutcome:
        mine = (
            WebAuthnChallenge.user_id == user_id,
            WebAuthnChallenge.purpose == purpose,
            WebAuthnChallenge.challenge == challenge,
        )
        expires_at = await self.session.scalar(select(WebAuthnChallenge.expires_at).where(*mine))
        if expires_at is None:
            return "unknown"
        # The DELETE decides: of two concurrent uses only one removes the row.
        deleted = await self.session.execute(
            delete(WebAuthnChallenge).where(*mine).execution_options(synchronize_session=False)
        )
        if rowcount(deleted) != 1:
            return "unknown"
        return "ok" if now < expires_at else "expired"

    async def add_security_key(
        self,
        user_id: int,
        name: str,
        credential_id: bytes,
        public_key: bytes,
        sign_count: int,
        now: datetime,
    ) -> SecurityKeyRecord:
        row = SecurityKey(
            user_id=user_id,
            name=name,
            credential_id=credential_id,
            public_key=public_key,
            sign_count=sign_count,
            created_at=now,
        )
        await self.insert(row, Duplicate("this security key or its name is already registered"))
        return _key(row)

    async def security_keys(self, user_id: int) -> list[SecurityKeyRecord]:
        rows = await self.session.scalars(
            select(SecurityKey).where(SecurityKey.user_id == user_id).order_by(SecurityKey.id)
        )
        return [_key(r) for r in rows]

    async def security_key_by_credential(self, credential_id: bytes) -> SecurityKeyRecord | None:
        row = await self.session.scalar(
            select(SecurityKey)
            .where(SecurityKey.credential_id == credential_id)
            .execution_options(populate_existing=True)
        )
        return None if row is None else _key(row)

    async def advance_sign_count(self, key_id: int, seen: int, new: int, now: datetime) -> bool:
        # Compare-and-set on the count we verified against: two assertions
        # racing with one counter value cannot both move it.
        result = await self.session.execute(
            update(SecurityKey)
            .where(SecurityKey.id == key_id, SecurityKey.sign_count == seen)
            .values(sign_count=new, last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def delete_security_key(self, user_id: int, key_id: int) -> bool:
        result = await self.session.execute(
            delete(SecurityKey).where(SecurityKey.id == key_id, SecurityKey.user_id == user_id)
        )
        return rowcount(result) == 1

    async def clear_two_factor(self, user_id: int) -> int:
        keys = await self.session.execute(delete(SecurityKey).where(SecurityKey.user_id == user_id))
        totp = await self.session.execute(
            delete(TotpCredential).where(
                TotpCredential.user_id == user_id, TotpCredential.confirmed_at.is_not(None)
            )
        )
        # An unconfirmed TOTP enrolment is not a method, but it goes too.
        await self.session.execute(delete(TotpCredential).where(TotpCredential.user_id == user_id))
        await self.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        await self.session.execute(
            delete(WebAuthnChallenge).where(WebAuthnChallenge.user_id == user_id)
        )
        return rowcount(keys) + rowcount(totp)
