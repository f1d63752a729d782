"""The trust change feed (migration 0012): what every replica's trust index follows.

Database triggers write it (the DDL is in the migration), so every writer of a
trusted publisher or a project's state is seen: the API, the pages, `publishers
sync`, an exchange reifying a pending publisher, a cascade from a deleted project.
Nothing in Python inserts here; the sweep only trims.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base


class TrustState(Base):
    """One row (id 1). Every trust change bumps `version` under this row's lock, so

    versions commit in the order they were taken: a reader that saw version N has
    seen every change up to N. `trimmed_through` is the highest version the sweep
    deleted: a reader behind it cannot know what it missed and drops everything.
    """

    __tablename__ = "trust_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    trimmed_through: Mapped[int] = mapped_column(BigInteger)


class TrustChange(Base):
    """One (issuer, lookup key) whose answer changed at `version`."""

    __tablename__ = "trust_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    issuer: Mapped[str] = mapped_column(String(255))
    lookup_key: Mapped[str] = mapped_column(String(255))
    # Unix seconds, written by the trigger from the database's own clock.
    changed_at: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_trust_changes_version", "version"),)
