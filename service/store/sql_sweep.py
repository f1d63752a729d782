"""Housekeeping over SQL: delete the rows whose time is up, in one statement per table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from service.store.models_access import Invitation, WebAuthnChallenge
from service.store.models_publishing import PendingPublisher
from service.store.models_sessions import LoginSession
from service.store.records import Swept
from service.store.sql_common import Steps, rowcount


class HousekeepingSql(Steps):
    async def delete_expired(self, now: datetime, *, invitations_before: datetime) -> Swept:
        sessions = await self.session.execute(
            delete(LoginSession).where(LoginSession.expires_at <= now)
        )
        challenges = await self.session.execute(
            delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now)
        )
        invitations = await self.session.execute(
            delete(Invitation).where(Invitation.expires_at <= invitations_before)
        )
        # An expired pending publisher matches no exchange (pending_publishers_for
        # filters on expires_at) and is weeks past the one-day registration count.
        pending = await self.session.execute(
            delete(PendingPublisher).where(PendingPublisher.expires_at <= now)
        )
        return Swept(
            sessions=rowcount(sessions),
            challenges=rowcount(challenges),
            invitations=rowcount(invitations),
            pending_publishers=rowcount(pending),
        )
