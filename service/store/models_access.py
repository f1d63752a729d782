"""Tables of the second slice: security keys, projects, organisations, invitations.

Kept apart from models.py only for length; both share one metadata (Base).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base, UTCDateTime

USER_FK = "users.id"


class SecurityKey(Base):
    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(USER_FK, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # Globally unique: one authenticator credential belongs to one account, so
    # an assertion names its owner and cannot be replayed against another.
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE, not secret
    sign_count: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("user_id", "name"),)


class WebAuthnChallenge(Base):
    __tablename__ = "webauthn_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(USER_FK, ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    # Random 32 bytes; stored so it can be consumed once (deleted) and expire.
    challenge: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    normalized_name: Mapped[str] = mapped_column(String(255), unique=True)  # PEP 503
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Operator's flag for critical projects: their maintainers are held at
    # enrolment until they have 2FA, whatever the global date says.
    two_factor_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # The owners' switch: API tokens are refused for this project, only trusted
    # publishing uploads (apitokens.status.ProjectPolicy).
    trusted_publishing_only: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Incident response (issue 21): "active", "archived" (no uploads, no mints) or
    # "quarantined" (no trusted-publishing uploads or mints); accounts/project_state.py.
    state: Mapped[str] = mapped_column(String(16), default="active", server_default="active")


class ProjectRole(Base):
    __tablename__ = "project_roles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey(USER_FK, ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        CheckConstraint("role IN ('owner', 'maintainer')", name="role"),
    )


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    normalized_name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OrganizationMember(Base):
    __tablename__ = "organization_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey(USER_FK, ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("organization_id", "user_id"),
        CheckConstraint("role IN ('owner', 'member')", name="role"),
    )


class Invitation(Base):
    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invitee_user_id: Mapped[int] = mapped_column(ForeignKey(USER_FK, ondelete="CASCADE"))
    inviter_user_id: Mapped[int | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    # A resolved invitation is deleted (the audit trail keeps its story), so
    # these indexes allow one pending invitation per place and invitee. NULLs
    # are distinct in both databases, so each index only binds its own kind.
    __table_args__ = (
        Index("uq_invitations_project_invitee", "project_id", "invitee_user_id", unique=True),
        Index(
            "uq_invitations_organization_invitee",
            "organization_id",
            "invitee_user_id",
            unique=True,
        ),
        CheckConstraint("(project_id IS NULL) <> (organization_id IS NULL)", name="one_target"),
    )
