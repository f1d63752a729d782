"""Tables of staged publishing (issue 13). One metadata with models.py (Base).

A staged file's bytes live in the staging area (service/staging/area.py), not
here: the row holds where, how many bytes and their SHA-256, so an approval can
tell the file it forwards is the file that was staged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base, Details, UTCDateTime

USER_FK = "users.id"
OPEN = text("status = 'staged'")


class StagingPolicy(Base):
    __tablename__ = "staging_policies"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    enabled: Mapped[bool] = mapped_column(Boolean)
    new_versions_only: Mapped[bool] = mapped_column(Boolean)
    # A JSON list of publisher identities; empty: uploads of every publisher are staged.
    publishers: Mapped[list[str]] = mapped_column(Details)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_user_id: Mapped[int | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    # Uploads made with an API token wait too (migration 0013): a leaked token must not
    # skip the review. On unless an owner turns it off, for rows older than the column too.
    stage_api_tokens: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class StagedRelease(Base):
    __tablename__ = "staged_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    staged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey(USER_FK, ondelete="SET NULL"))
    decided_by: Mapped[str | None] = mapped_column(String(50))
    # When an approval claimed it (staged -> approving); NULL in every other status.
    approving_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN ('staged', 'approving', 'approved', 'rejected', 'expired')", name="status"
        ),
        # One waiting release per version: the files of one twine run gather in it, and
        # two gateway replicas staging at once cannot open two.
        Index(
            "uq_staged_releases_open",
            "project_id",
            "version",
            unique=True,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        ),
    )


class StagedFile(Base):
    __tablename__ = "staged_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("staged_releases.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(128))
    fields: Mapped[list[Any]] = mapped_column(Details)
    provenance: Mapped[dict[str, Any]] = mapped_column(Details)
    publishers: Mapped[list[str]] = mapped_column(Details)
    subject: Mapped[str] = mapped_column(String(255))
    jti: Mapped[str] = mapped_column(String(255))
    staged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("release_id", "filename"),)


class ApprovalChallengeRow(Base):
    __tablename__ = "staging_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey(USER_FK, ondelete="CASCADE"), index=True)
    release_id: Mapped[int] = mapped_column(ForeignKey("staged_releases.id", ondelete="CASCADE"))
    # The release digest when the challenge was issued: files added after it are not covered.
    digest: Mapped[str] = mapped_column(String(64))
    challenge: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
