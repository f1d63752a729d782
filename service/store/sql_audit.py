"""The audit trail over SQL: append, and read back per user, project or organisation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from service.store.models import AuditEventRow
from service.store.records import AuditEvent, AuditRecord
from service.store.sql_common import Steps


def audit_columns(event: AuditEvent) -> dict[str, Any]:
    return {
        "occurred_at": event.occurred_at,
        "event": event.event,
        "actor": event.actor,
        "actor_user_id": event.actor_user_id,
        "subject_user_id": event.subject_user_id,
        "subject_project": event.subject_project,
        "subject_organization": event.subject_organization,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "details": dict(event.details),
    }


class AuditSql(Steps):
    async def record(self, event: AuditEvent) -> None:
        self.session.add(AuditEventRow(**audit_columns(event)))
        await self.session.flush()

    async def audit_events(
        self,
        subject_user_id: int | None = None,
        *,
        user_id: int | None = None,
        project: str | None = None,
        organization: str | None = None,
    ) -> list[AuditRecord]:
        query = select(AuditEventRow).order_by(AuditEventRow.id)
        if subject_user_id is not None:
            query = query.where(AuditEventRow.subject_user_id == subject_user_id)
        if user_id is not None:
            query = query.where(
                or_(
                    AuditEventRow.subject_user_id == user_id, AuditEventRow.actor_user_id == user_id
                )
            )
        if project is not None:
            query = query.where(AuditEventRow.subject_project == project)
        if organization is not None:
            query = query.where(AuditEventRow.subject_organization == organization)
        return [
            AuditRecord(
                id=row.id,
                occurred_at=row.occurred_at,
                event=row.event,
                actor=row.actor,
                actor_user_id=row.actor_user_id,
                subject_user_id=row.subject_user_id,
                subject_project=row.subject_project,
                subject_organization=row.subject_organization,
                ip=row.ip,
                user_agent=row.user_agent,
                details=row.details,
            )
            for row in await self.session.scalars(query)
        ]
