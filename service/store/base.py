"""What the rest of the service sees of storage: records, errors and the Store protocol.

Callers never touch SQLAlchemy. They open one transaction per change and make
every step of it through `Transaction`; leaving the block commits, an
exception rolls everything back, so a change is written whole or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class StoreError(Exception):
    """Storage is misconfigured or unusable; the message names what to do."""


class UsernameTaken(StoreError):
    """Another user already has this username in some letter case."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    email: str
    password_hash: str
    created_at: datetime
    # None until a second factor is confirmed; the 2FA gate (later) refuses
    # everything but enrolment while it is None.
    two_factor_enabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class TotpRecord:
    user_id: int
    secret_ciphertext: bytes
    created_at: datetime
    confirmed_at: datetime | None
    last_used_step: int | None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """Who did what to whom, from where. `details` must never hold a secret."""

    event: str
    actor: str
    occurred_at: datetime
    actor_user_id: int | None = None
    subject_user_id: int | None = None
    subject_project: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AuditRecord(AuditEvent):
    id: int = 0


class Transaction(Protocol):
    """The steps of one change. Nothing is visible to others until the block ends."""

    async def add_user(
        self, username: str, email: str, password_hash: str, now: datetime
    ) -> UserRecord: ...

    async def user_by_name(self, username: str) -> UserRecord | None: ...

    async def user_by_id(self, user_id: int) -> UserRecord | None: ...

    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...

    async def set_two_factor_enabled(self, user_id: int, at: datetime) -> None: ...

    async def put_totp(self, user_id: int, secret_ciphertext: bytes, now: datetime) -> None:
        """Store a new, unconfirmed TOTP secret, replacing an unconfirmed one."""

    async def totp_for(self, user_id: int) -> TotpRecord | None: ...

    async def confirm_totp(self, user_id: int, at: datetime) -> None: ...

    async def claim_totp_step(self, user_id: int, step: int) -> bool:
        """Record `step` as used if it is later than the last used one; True when it was."""

    async def replace_recovery_codes(
        self, user_id: int, code_hashes: Sequence[str], now: datetime
    ) -> None: ...

    async def redeem_recovery_code(self, user_id: int, code_hash: str, now: datetime) -> bool:
        """Mark an unused code used; True for exactly one of any concurrent redemptions."""

    async def unused_recovery_codes(self, user_id: int) -> int: ...

    async def record(self, event: AuditEvent) -> None: ...

    async def audit_events(self, subject_user_id: int | None = None) -> list[AuditRecord]: ...


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def close(self) -> None: ...
