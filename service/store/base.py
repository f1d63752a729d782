"""What the rest of the service sees of storage: errors, records and the Store protocol.

Callers never touch SQLAlchemy. They open one transaction per change and make
every step of it through `Transaction`; leaving the block commits, an
exception rolls everything back, so a change is written whole or not at all.

`Transaction` is the sum of small per-domain groups (users, TOTP, recovery
codes, security keys, projects, organisations, invitations, audit) so each
group can be read, implemented and faked on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Literal, Protocol

from service.store.records import (
    AuditEvent,
    AuditRecord,
    ChallengePurpose,
    Exposure,
    InvitationRecord,
    Membership,
    OrganizationRecord,
    ProjectRecord,
    SecurityKeyRecord,
    SessionRecord,
    Swept,
    TotpRecord,
    UserRecord,
)
from service.store.records_publishing import TrustFeed
from service.store.steps_publishing import (
    ApiTokenSteps,
    PendingPublisherSteps,
    PublisherSteps,
    TrustFeedSteps,
)
from service.store.steps_staging import StagingSteps

__all__ = [
    "AuditEvent",
    "AuditRecord",
    "Exposure",
    "InvitationRecord",
    "Membership",
    "OrganizationRecord",
    "ProjectRecord",
    "SecurityKeyRecord",
    "SessionRecord",
    "Store",
    "StoreError",
    "Swept",
    "TotpRecord",
    "Transaction",
    "UserRecord",
]


class StoreError(Exception):
    """Storage is misconfigured or unusable; the message names what to do."""


class UsernameTaken(StoreError):
    """Another user already has this username in some letter case."""


class NameTaken(StoreError):
    """A project or organisation with this normalised name exists."""


class Duplicate(StoreError):
    """A unique rule held: same security key, key name, role or pending invitation."""


ChallengeOutcome = Literal["ok", "expired", "unknown"]


class UserSteps(Protocol):
    async def add_user(
        self, username: str, email: str, password_hash: str, now: datetime
    ) -> UserRecord: ...

    async def user_by_name(self, username: str) -> UserRecord | None: ...

    async def user_by_id(self, user_id: int) -> UserRecord | None: ...

    async def user_for_share(self, user_id: int) -> UserRecord | None:
        """The user, its row held against changes until the transaction ends."""

    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...

    async def set_two_factor_enabled(self, user_id: int, at: datetime | None) -> None:
        """None switches 2FA off (the last method removed, or an operator reset)."""

    async def mark_two_factor(self, user_id: int, at: datetime | None) -> None:
        """Record a fresh second-factor proof (None forgets it)."""


class TotpSteps(Protocol):
    async def put_totp(self, user_id: int, secret_ciphertext: bytes, now: datetime) -> None:
        """Store a new, unconfirmed TOTP secret, replacing an unconfirmed one."""

    async def totp_for(self, user_id: int) -> TotpRecord | None: ...

    async def confirm_totp(self, user_id: int, at: datetime) -> None: ...

    async def claim_totp_step(self, user_id: int, step: int) -> bool:
        """Record `step` as used if it is later than the last used one; True when it was."""

    async def delete_totp(self, user_id: int) -> bool: ...


class RecoverySteps(Protocol):
    async def replace_recovery_codes(
        self, user_id: int, code_hashes: Sequence[str], now: datetime
    ) -> None: ...

    async def redeem_recovery_code(self, user_id: int, code_hash: str, now: datetime) -> bool:
        """Mark an unused code used; True for exactly one of any concurrent redemptions."""

    async def unused_recovery_codes(self, user_id: int) -> int: ...


class SecurityKeySteps(Protocol):
    async def add_challenge(
        self,
        user_id: int,
        purpose: ChallengePurpose,
        challenge: bytes,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    async def consume_challenge(
        self, user_id: int, purpose: ChallengePurpose, challenge: bytes, now: datetime
    ) -> ChallengeOutcome:
        """Delete the challenge; "ok" for exactly one of concurrent consumers, if unexpired."""

    async def add_security_key(
        self,
        user_id: int,
        name: str,
        credential_id: bytes,
        public_key: bytes,
        sign_count: int,
        now: datetime,
    ) -> SecurityKeyRecord:
        """Raises Duplicate for a credential already registered or a name in use."""

    async def security_keys(self, user_id: int) -> list[SecurityKeyRecord]: ...

    async def security_key_by_credential(
        self, credential_id: bytes
    ) -> SecurityKeyRecord | None: ...

    async def advance_sign_count(self, key_id: int, seen: int, new: int, now: datetime) -> bool:
        """Store `new` if the count is still `seen`; False when another login moved it."""

    async def delete_security_key(self, user_id: int, key_id: int) -> bool: ...

    async def clear_two_factor(self, user_id: int) -> int:
        """Delete every TOTP, security key and recovery code; the number of methods gone."""


class ProjectSteps(Protocol):
    async def add_project(self, name: str, normalized: str, now: datetime) -> ProjectRecord:
        """Raises NameTaken when the normalised name exists."""

    async def project_by_name(self, normalized: str) -> ProjectRecord | None: ...

    async def projects(self) -> list[ProjectRecord]: ...

    async def set_project_two_factor_required(self, project_id: int, required: bool) -> None: ...

    async def add_project_role(
        self, project_id: int, user_id: int, role: str, now: datetime
    ) -> None:
        """Raises Duplicate when the user already has a role in the project."""

    async def project_members(self, project_id: int) -> list[Membership]: ...

    async def lock_project(self, project_id: int) -> None:
        """Hold the project's row until the transaction ends: role changes run one at a time."""

    async def set_project_role(self, project_id: int, user_id: int, role: str) -> bool:
        """False when the user has no role in the project."""

    async def delete_project_role(self, project_id: int, user_id: int) -> bool: ...


class OrganizationSteps(Protocol):
    async def add_organization(
        self, name: str, normalized: str, now: datetime
    ) -> OrganizationRecord: ...

    async def organization_by_name(self, normalized: str) -> OrganizationRecord | None: ...

    async def add_organization_role(
        self, organization_id: int, user_id: int, role: str, now: datetime
    ) -> None: ...

    async def organization_members(self, organization_id: int) -> list[Membership]: ...

    async def organizations(self) -> list[OrganizationRecord]: ...

    async def lock_organization(self, organization_id: int) -> None:
        """Hold the organisation's row until the transaction ends (as lock_project)."""

    async def set_organization_role(self, organization_id: int, user_id: int, role: str) -> bool:
        """False when the user is not in the organisation."""

    async def delete_organization_role(self, organization_id: int, user_id: int) -> bool: ...

    async def exposure(self, user_id: int) -> Exposure:
        """The projects and organisations this user belongs to."""


class InvitationSteps(Protocol):
    async def add_invitation(
        self,
        *,
        invitee_user_id: int,
        inviter_user_id: int,
        role: str,
        project_id: int | None,
        organization_id: int | None,
        now: datetime,
        expires_at: datetime,
    ) -> InvitationRecord:
        """Raises Duplicate when an unexpired invitation to the same place is pending."""

    async def invitation_by_id(self, invitation_id: int) -> InvitationRecord | None: ...

    async def invitations_for(self, user_id: int) -> list[InvitationRecord]: ...

    async def delete_invitation(self, invitation_id: int) -> bool:
        """True for exactly one of concurrent accept/decline calls."""

    async def delete_invitations_from(
        self, inviter_user_id: int, *, project_id: int | None, organization_id: int | None
    ) -> int:
        """Void what this inviter sent to one place (they lost the right to send it)."""


class AuditSteps(Protocol):
    async def record(self, event: AuditEvent) -> None: ...

    async def audit_events(
        self,
        subject_user_id: int | None = None,
        *,
        user_id: int | None = None,
        project: str | None = None,
        organization: str | None = None,
    ) -> list[AuditRecord]:
        """Oldest first. `user_id` matches events the user did or underwent."""


class SessionSteps(Protocol):
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
    ) -> SessionRecord: ...

    async def session_by_hash(self, token_hash: str) -> SessionRecord | None: ...

    async def prove_session_second_factor(
        self, session_id: int, at: datetime, expires_at: datetime | None = None
    ) -> bool:
        """No longer pending, last proof `at` (and a new expiry if given); False if revoked."""

    async def delete_session(self, session_id: int) -> bool: ...

    async def delete_sessions_of(self, user_id: int, *, keep: int | None = None) -> int:
        """Revoke every session of the user but `keep`; how many went."""

    async def delete_expired_sessions(self, now: datetime) -> int: ...

    async def touch_device(self, user_id: int, device_hash: str, now: datetime) -> bool:
        """Mark a known device of the user seen `now`; False when it is not one of theirs."""

    async def add_device(self, user_id: int, device_hash: str, now: datetime, *, keep: int) -> None:
        """Remember a device for the user, forgetting all but the `keep` seen most recently."""


class HousekeepingSteps(Protocol):
    async def delete_expired(
        self,
        now: datetime,
        *,
        invitations_before: datetime,
        minted_before: datetime | None = None,
        audit_before: datetime | None = None,
    ) -> Swept:
        """Remove expired sessions, WebAuthn challenges and pending publishers, and
        invitations that expired before `invitations_before`; with them, minted-token rows
        that expired before `minted_before` and audit events older than `audit_before`."""


class Transaction(
    UserSteps,
    TotpSteps,
    RecoverySteps,
    SecurityKeySteps,
    ProjectSteps,
    OrganizationSteps,
    InvitationSteps,
    AuditSteps,
    SessionSteps,
    PublisherSteps,
    PendingPublisherSteps,
    ApiTokenSteps,
    HousekeepingSteps,
    StagingSteps,
    TrustFeedSteps,
    Protocol,
):
    """The steps of one change. Nothing is visible to others until the block ends."""


class Store(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def read_trust_feed(self, since: int, *, limit: int) -> TrustFeed:
        """The trust feed's version and the keys changed after `since` (at most `limit`):
        one statement outside any transaction, for the trust index's poll."""

    async def close(self) -> None: ...
