"""The audit trail over SQL: append, and read back per user, project or organisation."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select

from service.store.models import AuditEventRow
from service.store.records import AuditEvent, AuditRecord
from service.store.sql_common import Steps


class AuditSql(Steps):
    async def record(self, event: AuditEvent) -> None:
        self.session.add(
            AuditEventRow(
                occurred_at=event.occurred_at,
                event=event.event,
                actor=event.actor,
                actor_user_id=event.actor_user_id,
                subject_user_id=event.subject_user_id,
                subject_project=event.subject_project,
                subject_organization=event.subject_organization,
                ip=event.ip,
                user_agent=event.user_agent,
                details=dict(event.details),
            )
        )
        await self.session.flush()

    async def record_all(self, events: Sequence[AuditEvent]) -> None:
        await self.insert_many(
            AuditEventRow,
            [
                {
                    "occurred_at": e.occurred_at,
                    "event": e.event,
                    "actor": e.actor,
                    "actor_user_id": e.actor_user_id,
                    "subject_user_id": e.subject_user_id,
                    "subject_project": e.subject_project,
                    "subject_organization": e.subject_organization,
                    "ip": e.ip,
                    "user_agent": e.user_agent,
                    "details": dict(e.details),
                }
                for e in events
            ],
        )

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
