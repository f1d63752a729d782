"""The sessions table: one row per login, keyed by the SHA-256 of its random id; and the
devices each user finished a second-factor sign-in from (new-device notices).

Kept apart from models.py only for length; it shares one metadata (Base).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
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


class KnownDevice(Base):
    """A browser that finished a second-factor sign-in, remembered by its device cookie.

    Only the SHA-256 of the cookie is kept (256 random bits, as for sessions). It
    never signs anyone in: it only spares the owner a new-device notice.
    """

    __tablename__ = "known_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    device_hash: Mapped[str] = mapped_column(String(64))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("uq_known_devices_user_hash", "user_id", "device_hash", unique=True),)
