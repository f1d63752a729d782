"""Records: what the store hands back. Frozen values, no SQLAlchemy in sight."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ProjectRole = Literal["owner", "maintainer"]
OrganizationRole = Literal["owner", "member"]
ChallengePurpose = Literal["register", "authenticate"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    email: str
    password_hash: str
    created_at: datetime
    # None until a second factor is confirmed; the 2FA gate refuses
    # everything but enrolment while it is None.
    two_factor_enabled_at: datetime | None
    # The last time this user proved a second factor: sensitive actions need
    # one within the last minutes (policy.require_recent_two_factor).
    last_two_factor_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TotpRecord:
    user_id: int
    secret_ciphertext: bytes
    created_at: datetime
    confirmed_at: datetime | None
    last_used_step: int | None


@dataclass(frozen=True, slots=True)
class SecurityKeyRecord:
    """A registered WebAuthn credential. The public key is not secret."""

    id: int
    user_id: int
    name: str
    credential_id: bytes
    public_key: bytes
    sign_count: int
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    id: int
    name: str
    normalized_name: str
    created_at: datetime
    two_factor_required: bool
    # Owners' switch: API tokens are refused, only trusted publishing uploads.
    trusted_publishing_only: bool = False
    # Issue 21: "active", "archived" or "quarantined" (accounts/project_state.py).
    state: str = "active"


@dataclass(frozen=True, slots=True)
class OrganizationRecord:
    id: int
    name: str
    normalized_name: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    """One user's role in a project or an organisation."""

    user_id: int
    username: str
    role: str
    two_factor_enabled: bool


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    id: int
    invitee_user_id: int
    inviter_user_id: int | None
    role: str
    created_at: datetime
    expires_at: datetime
    # Exactly one of the two is set (a CHECK constraint holds the database to it).
    project: ProjectRecord | None
    organization: OrganizationRecord | None

    @property
    def target(self) -> str:
        if self.project is not None:
            return f"project {self.project.name}"
        assert self.organization is not None
        return f"organization {self.organization.name}"


@dataclass(frozen=True, slots=True)
class Exposure:
    """What a user maintains: decides whether 2FA may be removed or is enforced."""

    projects: tuple[str, ...]
    organizations: tuple[str, ...]
    flagged_projects: tuple[str, ...]  # those with the per-project "2FA required" flag

    @property
    def any(self) -> bool:
        return bool(self.projects or self.organizations)


@dataclass(frozen=True, slots=True)
class Swept:
    """How many expired rows one sweep removed, per table."""

    sessions: int = 0
    challenges: int = 0
    invitations: int = 0
    pending_publishers: int = 0
    minted_tokens: int = 0
    trust_changes: int = 0
    audit_events: int = 0

    @property
    def total(self) -> int:
        return (
            self.sessions
            + self.challenges
            + self.invitations
            + self.pending_publishers
            + self.minted_tokens
            + self.trust_changes
            + self.audit_events
        )


ACTOR_LENGTH = 100  # audit_events.actor: longer actors are cut


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
    subject_organization: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord(AuditEvent):
    id: int = 0


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A login session. Only the SHA-256 of its id is stored; the id itself is the credential."""

    id: int
    user_id: int
    created_at: datetime
    expires_at: datetime
    # True until the second factor is proven: a password alone opens nothing else.
    pending: bool
    # The last second-factor proof made in this session (the recent-proof window).
    second_factor_at: datetime | None
    ip: str | None
    user_agent: str | None
