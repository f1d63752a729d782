"""The sessions table: one row per login, keyed by the SHA-256 of its random id.

Kept apart from models.py only for length; it shares one metadata (Base).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models import Base, UTCDateTime


class LoginSession(Base):
    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A hash, not the id: a leaked table or backup must not hand out live sessions.
    # The id has 256 random bits, so plain SHA-256 suffices (nothing to guess).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    pending: Mapped[bool] = mapped_column(Boolean)
    second_factor_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
