"""Housekeeping over SQL: delete the rows whose time is up, in one statement per table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from service.store.models import AuditEventRow
from service.store.models_access import Invitation, WebAuthnChallenge
from service.store.models_publishing import MintedToken, PendingPublisher
from service.store.models_sessions import LoginSession
from service.store.records import Swept
from service.store.sql_common import Steps, rowcount


class HousekeepingSql(Steps):
    async def delete_expired(
        self,
        now: datetime,
        *,
        invitations_before: datetime,
        minted_before: datetime | None = None,
        audit_before: datetime | None = None,
    ) -> Swept:
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
        minted = audit = 0
        if minted_before is not None:
            # An expired token cannot be revoked any more usefully: its row is history.
            minted = rowcount(
                await self.session.execute(
                    delete(MintedToken).where(MintedToken.expires_at <= minted_before)
                )
            )
        if audit_before is not None:
            audit = rowcount(
                await self.session.execute(
                    delete(AuditEventRow).where(AuditEventRow.occurred_at < audit_before)
                )
            )
        return Swept(
            sessions=rowcount(sessions),
            challenges=rowcount(challenges),
            invitations=rowcount(invitations),
            pending_publishers=rowcount(pending),
            minted_tokens=minted,
            audit_events=audit,
        )
