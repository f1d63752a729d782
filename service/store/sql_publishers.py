"""Trusted and pending publishers over SQL, and the project's trusted-publishing-only switch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update

from service.store.base import Duplicate
from service.store.models_access import Project
from service.store.models_publishing import PendingPublisher, TrustedPublisher
from service.store.records_publishing import (
    PendingPublisherRecord,
    PublisherRecord,
    PublisherSource,
    PublisherSpec,
)
from service.store.sql_common import Steps, rowcount


def _spec(row: TrustedPublisher | PendingPublisher) -> PublisherSpec:
    return PublisherSpec(
        provider=row.provider,
        issuer=row.issuer,
        lookup_key=row.lookup_key,
        identity=row.identity,
        fingerprint=row.fingerprint,
        config=row.config,
    )


def _columns(spec: PublisherSpec) -> dict[str, Any]:
    """The inverse of `_spec`: the columns both publisher tables share."""
    return {
        "provider": spec.provider,
        "issuer": spec.issuer,
        "lookup_key": spec.lookup_key,
        "identity": spec.identity,
        "fingerprint": spec.fingerprint,
        "config": dict(spec.config),
    }


def _publisher(row: TrustedPublisher, project: str, state: str = "active") -> PublisherRecord:
    source: PublisherSource = "sync" if row.source == "sync" else "api"
    return PublisherRecord(
        id=row.id,
        project=project,
        spec=_spec(row),
        source=source,
        created_by_user_id=row.created_by_user_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        last_run_id=row.last_run_id,
        frozen_at=row.frozen_at,
        stage_only=bool(row.stage_only),
        project_state=state,
        repository_id=row.repository_id,
    )


def _pending(row: PendingPublisher) -> PendingPublisherRecord:
    return PendingPublisherRecord(
        id=row.id,
        project_name=row.project_name,
        normalized_name=row.normalized_name,
        spec=_spec(row),
        created_by_user_id=row.created_by_user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        invalidated_at=row.invalidated_at,
        reified_at=row.reified_at,
        publisher_id=row.publisher_id,
    )


_WITH_PROJECT = select(TrustedPublisher, Project.normalized_name, Project.state).join(
    Project, Project.id == TrustedPublisher.project_id
)


class PublisherSql(Steps):
    async def add_publisher(
        self,
        project_id: int,
        spec: PublisherSpec,
        *,
        source: PublisherSource,
        created_by: int | None,
        now: datetime,
    ) -> PublisherRecord:
        row = TrustedPublisher(
            project_id=project_id,
            **_columns(spec),
            source=source,
            created_by_user_id=created_by,
            created_at=now,
        )
        await self.insert(row, Duplicate("the project already trusts this publisher"))
        project = await self.session.scalar(
            select(Project.normalized_name).where(Project.id == project_id)
        )
        return _publisher(row, project or "")

    async def publishers_of(self, project_id: int) -> list[PublisherRecord]:
        rows = await self.session.execute(
            _WITH_PROJECT.where(TrustedPublisher.project_id == project_id).order_by(
                TrustedPublisher.id
            )
        )
        return [_publisher(row, name, state) for row, name, state in rows]

    async def publishers_for(self, issuer: str, lookup_key: str) -> list[PublisherRecord]:
        rows = await self.session.execute(
            _WITH_PROJECT.where(
                TrustedPublisher.issuer == issuer, TrustedPublisher.lookup_key == lookup_key
            ).order_by(TrustedPublisher.id)
        )
        return [_publisher(row, name, state) for row, name, state in rows]

    async def publishers_from(self, source: PublisherSource) -> list[PublisherRecord]:
        rows = await self.session.execute(
            _WITH_PROJECT.where(TrustedPublisher.source == source).order_by(TrustedPublisher.id)
        )
        return [_publisher(row, name, state) for row, name, state in rows]

    async def delete_publisher(self, project_id: int, publisher_id: int) -> bool:
        result = await self.session.execute(
            delete(TrustedPublisher)
            .where(TrustedPublisher.id == publisher_id, TrustedPublisher.project_id == project_id)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def mark_publisher_used(
        self,
        publisher_ids: Sequence[int],
        at: datetime,
        run_id: str | None,
        *,
        unless_since: datetime | None = None,
    ) -> None:
        if publisher_ids:
            query = update(TrustedPublisher).where(TrustedPublisher.id.in_(publisher_ids))
            if unless_since is not None:
                # Rows used since then are skipped without a lock: concurrent mints of one
                # publisher do not queue behind each other's commit to bump one timestamp.
                query = query.where(
                    or_(
                        TrustedPublisher.last_used_at.is_(None),
                        TrustedPublisher.last_used_at < unless_since,
                    )
                )
            await self.session.execute(
                query.values(last_used_at=at, last_run_id=run_id).execution_options(
                    synchronize_session=False
                )
            )

    async def publisher_by_id(self, publisher_id: int) -> PublisherRecord | None:
        found = (
            await self.session.execute(_WITH_PROJECT.where(TrustedPublisher.id == publisher_id))
        ).first()
        return None if found is None else _publisher(*found)

    async def set_publisher_frozen(self, publisher_id: int, at: datetime | None) -> bool:
        """Freeze (at a time) or unfreeze (None); False when it was already so."""
        changed = (
            TrustedPublisher.frozen_at.is_(None) if at else TrustedPublisher.frozen_at.isnot(None)
        )
        result = await self.session.execute(
            update(TrustedPublisher)
            .where(TrustedPublisher.id == publisher_id, changed)
            .values(frozen_at=at)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def set_publisher_stage_only(self, publisher_id: int, on: bool) -> None:
        await self.session.execute(
            update(TrustedPublisher)
            .where(TrustedPublisher.id == publisher_id)
            .values(stage_only=on)
            .execution_options(synchronize_session=False)
        )

    async def set_project_state(self, project_id: int, state: str) -> None:
        await self.session.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(state=state)
            .execution_options(synchronize_session=False)
        )

    async def pin_publisher_repository_id(
        self, publisher_id: int, repository_id: str
    ) -> str | None:
        # Conditional: only a row with no pin takes one. On PostgreSQL a racing writer
        # waits for the first's row lock, re-checks the WHERE against the committed row
        # and changes nothing; SQLite's writers are serial. The re-read then tells every
        # racer which id won.
        await self.session.execute(
            update(TrustedPublisher)
            .where(TrustedPublisher.id == publisher_id, TrustedPublisher.repository_id.is_(None))
            .values(repository_id=repository_id)
            .execution_options(synchronize_session=False)
        )
        pinned: str | None = await self.session.scalar(
            select(TrustedPublisher.repository_id).where(TrustedPublisher.id == publisher_id)
        )
        return pinned

    async def set_trusted_publishing_only(self, project_id: int, on: bool) -> None:
        await self.session.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(trusted_publishing_only=on)
            .execution_options(synchronize_session=False)
        )


class PendingPublisherSql(Steps):
    async def add_pending_publisher(
        self,
        project_name: str,
        normalized: str,
        spec: PublisherSpec,
        *,
        created_by: int,
        now: datetime,
        expires_at: datetime,
    ) -> PendingPublisherRecord:
        # An expired or voided registration no longer blocks the same one again.
        await self.session.execute(
            delete(PendingPublisher)
            .where(
                PendingPublisher.normalized_name == normalized,
                PendingPublisher.fingerprint == spec.fingerprint,
                PendingPublisher.reified_at.is_(None),
                (PendingPublisher.expires_at <= now) | PendingPublisher.invalidated_at.isnot(None),
            )
            .execution_options(synchronize_session=False)
        )
        row = PendingPublisher(
            project_name=project_name,
            normalized_name=normalized,
            **_columns(spec),
            created_by_user_id=created_by,
            created_at=now,
            expires_at=expires_at,
        )
        await self.insert(row, Duplicate("this publisher is already pending for this name"))
        return _pending(row)

    async def pending_publishers_for(
        self, issuer: str, lookup_key: str, now: datetime
    ) -> list[PendingPublisherRecord]:
        rows = await self.session.scalars(
            select(PendingPublisher)
            .where(
                PendingPublisher.issuer == issuer,
                PendingPublisher.lookup_key == lookup_key,
                PendingPublisher.expires_at > now,
                PendingPublisher.reified_at.is_(None),
            )
            .order_by(PendingPublisher.id)
            .execution_options(populate_existing=True)
        )
        return [_pending(r) for r in rows]

    async def pending_publishers_of(self, user_id: int) -> list[PendingPublisherRecord]:
        rows = await self.session.scalars(
            select(PendingPublisher)
            .where(PendingPublisher.created_by_user_id == user_id)
            .order_by(PendingPublisher.id)
        )
        return [_pending(r) for r in rows]

    async def pending_publisher_by_id(self, pending_id: int) -> PendingPublisherRecord | None:
        row = await self.session.scalar(
            select(PendingPublisher)
            .where(PendingPublisher.id == pending_id)
            .execution_options(populate_existing=True)
        )
        return None if row is None else _pending(row)

    async def pending_registered_since(self, user_id: int, since: datetime) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(PendingPublisher)
            .where(
                PendingPublisher.created_by_user_id == user_id,
                PendingPublisher.created_at > since,
            )
        )
        return int(count or 0)

    async def claim_pending_publisher(self, pending_id: int, now: datetime) -> bool:
        # A conditional UPDATE: on PostgreSQL a second claimer waits for the first's
        # row lock, then re-checks the WHERE against the committed row and finds it
        # reified, so exactly one exchange turns a pending publisher into a project.
        result = await self.session.execute(
            update(PendingPublisher)
            .where(
                PendingPublisher.id == pending_id,
                PendingPublisher.reified_at.is_(None),
                PendingPublisher.invalidated_at.is_(None),
                PendingPublisher.expires_at > now,
            )
            .values(reified_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def link_pending_publisher(self, pending_id: int, publisher_id: int) -> None:
        await self.session.execute(
            update(PendingPublisher)
            .where(PendingPublisher.id == pending_id)
            .values(publisher_id=publisher_id)
            .execution_options(synchronize_session=False)
        )

    async def invalidate_pending_publishers(self, normalized: str, now: datetime) -> int:
        result = await self.session.execute(
            update(PendingPublisher)
            .where(
                PendingPublisher.normalized_name == normalized,
                PendingPublisher.reified_at.is_(None),
                PendingPublisher.invalidated_at.is_(None),
            )
            .values(invalidated_at=now)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result)

    async def delete_pending_publisher(self, pending_id: int, user_id: int) -> bool:
        result = await self.session.execute(
            delete(PendingPublisher)
            .where(
                PendingPublisher.id == pending_id,
                PendingPublisher.created_by_user_id == user_id,
                PendingPublisher.reified_at.is_(None),
            )
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1
