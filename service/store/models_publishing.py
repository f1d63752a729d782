"""Tables of issue 5: trusted publishers, pending publishers, API token records.

Kept apart from models.py only for length; all share one metadata (Base).
A publisher row keeps the provider's publisher table (the TOML-equivalent) as
JSON and is turned into a Publisher by the provider's own `from_table`, so
the claim checks never learn that a database exists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base, Details, UTCDateTime

USER_FK = "users.id"


class TrustedPublisher(Base):
    __tablename__ = "trusted_publishers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(255))
    # The issuer's lookup claim casefolded: the exchange asks by (issuer, lookup_key)
    # only, so one repository's token never loads another repository's publishers.
    lookup_key: Mapped[str] = mapped_column(String(255))
    identity: Mapped[str] = mapped_column(String(512))
    # SHA-256 of the canonical JSON of `config`: the same publisher twice in one
    # project is refused, and `publishers sync` tells unchanged from changed.
    fingerprint: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(Details)
    # "api" (an owner added it) or "sync" (`mintgate publishers sync`): sync only
    # removes what it added, never an owner's own publishers.
    source: Mapped[str] = mapped_column(String(16))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_id: Mapped[str | None] = mapped_column(String(255))
    # Incident response (issue 21). Frozen: trusts nothing until unfrozen (the trust
    # stores never return it). Stage only: its uploads always wait for approval.
    frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stage_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # GitHub's `repository_id`, recorded by the first mint when `config` names none
    # (migration 0011): a re-created repository of the same name is refused after.
    repository_id: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        # The exchange's one question: (issuer, lookup key) -> a few rows, at any table size.
        Index("ix_trusted_publishers_issuer_lookup", "issuer", "lookup_key"),
        # Also serves "publishers of this project" (its leading column).
        UniqueConstraint("project_id", "fingerprint"),
        # Deleting a user sets this to NULL: without the index, a scan of every publisher
        # under lock (migration 0007, built online).
        Index("ix_trusted_publishers_created_by_user_id", "created_by_user_id"),
    )


class PendingPublisher(Base):
    __tablename__ = "pending_publishers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_name: Mapped[str] = mapped_column(String(255))
    normalized_name: Mapped[str] = mapped_column(String(255), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(String(255))
    lookup_key: Mapped[str] = mapped_column(String(255))
    identity: Mapped[str] = mapped_column(String(512))
    fingerprint: Mapped[str] = mapped_column(String(64))
    config: Mapped[dict[str, Any]] = mapped_column(Details)
    created_by_user_id: Mapped[int] = mapped_column(
        ForeignKey(USER_FK, ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the name was taken another way: the row stays so an exchange that
    # matches it can be told why (invalid-pending-publisher), not just "unknown".
    invalidated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the one exchange that created the project; rows are kept, so the
    # per-user daily registration count cannot be reset by reifying.
    reified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publisher_id: Mapped[int | None] = mapped_column(
        ForeignKey("trusted_publishers.id", ondelete="SET NULL")
    )

    __table_args__ = (
        Index("ix_pending_publishers_issuer_lookup", "issuer", "lookup_key"),
        UniqueConstraint("normalized_name", "fingerprint"),
        # Deleting a trusted publisher sets this to NULL (migration 0007).
        Index("ix_pending_publishers_publisher_id", "publisher_id"),
    )


class ApiToken(Base):
    __tablename__ = "api_tokens"

    # The biscuit's token id: the token itself is never stored, so a database
    # dump holds nothing that uploads.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(USER_FK, ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # A JSON list of PEP 503 names; NULL means every project the user maintains.
    projects: Mapped[list[str] | None] = mapped_column(Details)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MintedToken(Base):
    """One row per (minted token, publisher it was minted for): what an incident revokes.

    Written by the mint recorder in the transaction of the `mint` audit event. The
    publisher id is kept without a foreign key: removing a publisher during an
    incident must not lose which tokens it minted.
    """

    __tablename__ = "minted_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jti: Mapped[str] = mapped_column(String(64))
    publisher_id: Mapped[int | None] = mapped_column(Integer)
    project: Mapped[str] = mapped_column(String(255))
    issuer: Mapped[str] = mapped_column(String(255))
    # The publisher's lookup key (GitHub `owner/repo`, GitLab project path), casefolded.
    repository: Mapped[str] = mapped_column(String(255))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_minted_tokens_publisher_id_expires_at", "publisher_id", "expires_at"),
        Index("ix_minted_tokens_repository_expires_at", "repository", "expires_at"),
        Index("ix_minted_tokens_expires_at", "expires_at"),
        # A mint's record is written once, even by two writers at once (migration 0015).
        Index("uq_minted_tokens_jti_publisher_id", "jti", "publisher_id", unique=True),
    )
