"""Staged publishing over SQL: policies, staged releases and their files, approval challenges."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import delete, exists, select, update

from service.store.base import Duplicate
from service.store.models_staging import (
    ApprovalChallengeRow,
    StagedFile,
    StagedRelease,
    StagingPolicy,
)
from service.store.records_staging import (
    ApprovalChallenge,
    StagedFileRecord,
    StagedReleaseRecord,
    StagedStatus,
    StagingPolicyRecord,
)
from service.store.sql_common import Steps, rowcount
from service.store.steps_staging import ChallengeUse

# Bound parameters per IN list: far below every backend's limit (SQLite: 32,766).
KEYS_PER_QUERY = 500


def _policy(row: StagingPolicy) -> StagingPolicyRecord:
    return StagingPolicyRecord(
        project_id=row.project_id,
        enabled=row.enabled,
        new_versions_only=row.new_versions_only,
        publishers=tuple(row.publishers),
        updated_at=row.updated_at,
        updated_by_user_id=row.updated_by_user_id,
        stage_api_tokens=row.stage_api_tokens,
    )


def _file(row: StagedFile) -> StagedFileRecord:
    return StagedFileRecord(
        id=row.id,
        release_id=row.release_id,
        filename=row.filename,
        size=row.size,
        sha256=row.sha256,
        storage_key=row.storage_key,
        fields=tuple((str(k), str(v)) for k, v in row.fields),
        provenance={str(k): str(v) for k, v in row.provenance.items()},
        publishers=tuple(row.publishers),
        subject=row.subject,
        jti=row.jti,
        staged_at=row.staged_at,
        forwarded_at=row.forwarded_at,
    )


def _release(row: StagedRelease, files: Sequence[StagedFile]) -> StagedReleaseRecord:
    status: StagedStatus = row.status  # type: ignore[assignment]  # the CHECK constraint holds
    return StagedReleaseRecord(
        id=row.id,
        project_id=row.project_id,
        project=row.project,
        version=row.version,
        status=status,
        staged_at=row.staged_at,
        expires_at=row.expires_at,
        decided_at=row.decided_at,
        decided_by_user_id=row.decided_by_user_id,
        decided_by=row.decided_by,
        approving_since=row.approving_since,
        files=tuple(_file(f) for f in files),
    )


class StagingSql(Steps):
    async def staging_policy(self, project_id: int) -> StagingPolicyRecord | None:
        row = await self.session.scalar(
            select(StagingPolicy)
            .where(StagingPolicy.project_id == project_id)
            .execution_options(populate_existing=True)
        )
        return None if row is None else _policy(row)

    async def put_staging_policy(
        self,
        project_id: int,
        *,
        enabled: bool,
        new_versions_only: bool,
        publishers: Sequence[str],
        by_user_id: int | None,
        now: datetime,
        stage_api_tokens: bool = True,
    ) -> StagingPolicyRecord:
        row = await self.session.get(StagingPolicy, project_id)
        if row is None:
            row = StagingPolicy(project_id=project_id)
            self.session.add(row)
        row.enabled = enabled
        row.new_versions_only = new_versions_only
        row.publishers = list(publishers)
        row.stage_api_tokens = stage_api_tokens
        row.updated_at = now
        row.updated_by_user_id = by_user_id
        await self.session.flush()
        return _policy(row)

    async def open_staged_release(
        self, project_id: int, project: str, version: str, *, now: datetime, expires_at: datetime
    ) -> StagedReleaseRecord:
        found = await self._open(project_id, version)
        if found is not None:
            return found
        row = StagedRelease(
            project_id=project_id,
            project=project,
            version=version,
            status="staged",
            staged_at=now,
            expires_at=expires_at,
        )
        try:
            await self.insert(row, Duplicate())
        except Duplicate:
            # Another upload of the same version opened it first (its commit ended our wait).
            found = await self._open(project_id, version)
            if found is None:
                raise
            return found
        return _release(row, [])

    async def _open(self, project_id: int, version: str) -> StagedReleaseRecord | None:
        row_id = await self.session.scalar(
            select(StagedRelease.id).where(
                StagedRelease.project_id == project_id,
                StagedRelease.version == version,
                StagedRelease.status == "staged",
            )
        )
        return None if row_id is None else await self.staged_release(row_id)

    async def add_staged_file(
        self,
        release_id: int,
        *,
        filename: str,
        size: int,
        sha256: str,
        storage_key: str,
        fields: Sequence[tuple[str, str]],
        provenance: Mapping[str, str],
        publishers: Sequence[str],
        subject: str,
        jti: str,
        now: datetime,
    ) -> StagedFileRecord:
        row = StagedFile(
            release_id=release_id,
            filename=filename,
            size=size,
            sha256=sha256,
            storage_key=storage_key,
            fields=[list(pair) for pair in fields],
            provenance=dict(provenance),
            publishers=list(publishers),
            subject=subject,
            jti=jti,
            staged_at=now,
        )
        await self.insert(row, Duplicate())
        return _file(row)

    async def staged_release(self, release_id: int) -> StagedReleaseRecord | None:
        row = await self.session.scalar(
            select(StagedRelease)
            .where(StagedRelease.id == release_id)
            .execution_options(populate_existing=True)
        )
        if row is None:
            return None
        return _release(row, await self._files([row.id]))

    async def _files(self, release_ids: Sequence[int]) -> list[StagedFile]:
        rows = await self.session.scalars(
            select(StagedFile)
            .where(StagedFile.release_id.in_(release_ids))
            .order_by(StagedFile.id)
            .execution_options(populate_existing=True)
        )
        return list(rows)

    async def staged_releases(
        self, projects: Sequence[str] | None, statuses: Sequence[StagedStatus]
    ) -> list[StagedReleaseRecord]:
        query = select(StagedRelease).where(StagedRelease.status.in_(statuses))
        if projects is not None:
            query = query.where(StagedRelease.project.in_(projects))
        rows = list(
            await self.session.scalars(
                query.order_by(StagedRelease.staged_at, StagedRelease.id).execution_options(
                    populate_existing=True
                )
            )
        )
        files = await self._files([r.id for r in rows])
        return [_release(r, [f for f in files if f.release_id == r.id]) for r in rows]

    async def named_storage_keys(self, keys: Sequence[str]) -> set[str]:
        # Asked about the few old files in the area, never loading every key there is.
        named: set[str] = set()
        for start in range(0, len(keys), KEYS_PER_QUERY):
            batch = keys[start : start + KEYS_PER_QUERY]
            query = select(StagedFile.storage_key).where(StagedFile.storage_key.in_(batch))
            named.update(await self.session.scalars(query))
        return named

    async def version_approved(self, project_id: int, version: str) -> bool:
        found = await self.session.scalar(
            select(
                exists().where(
                    StagedRelease.project_id == project_id,
                    StagedRelease.version == version,
                    StagedRelease.status == "approved",
                )
            )
        )
        return bool(found)

    async def move_staged_release(
        self,
        release_id: int,
        was: StagedStatus,
        now_status: StagedStatus,
        *,
        at: datetime | None = None,
        by_user_id: int | None = None,
        by: str | None = None,
        approving_since: datetime | None = None,
    ) -> bool:
        if (now_status == "approving") != (approving_since is not None):
            raise ValueError("approving_since is given exactly when moving to approving")
        values: dict[str, object] = {"status": now_status, "approving_since": approving_since}
        if at is not None:
            values.update(decided_at=at, decided_by_user_id=by_user_id, decided_by=by)
        result = await self.session.execute(
            update(StagedRelease)
            .where(StagedRelease.id == release_id, StagedRelease.status == was)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return rowcount(result) == 1

    async def mark_staged_file_forwarded(self, file_id: int, at: datetime) -> None:
        await self.session.execute(
            update(StagedFile)
            .where(StagedFile.id == file_id)
            .values(forwarded_at=at)
            .execution_options(synchronize_session=False)
        )

    async def add_approval_challenge(
        self,
        user_id: int,
        release_id: int,
        digest: str,
        challenge: bytes,
        *,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        await self.session.execute(
            delete(ApprovalChallengeRow).where(ApprovalChallengeRow.expires_at <= now)
        )
        self.session.add(
            ApprovalChallengeRow(
                user_id=user_id,
                release_id=release_id,
                digest=digest,
                challenge=challenge,
                created_at=now,
                expires_at=expires_at,
            )
        )
        await self.session.flush()

    async def consume_approval_challenge(
        self, user_id: int, challenge: bytes, now: datetime
    ) -> ChallengeUse:
        mine = (
            ApprovalChallengeRow.user_id == user_id,
            ApprovalChallengeRow.challenge == challenge,
        )
        row = (
            await self.session.execute(
                select(
                    ApprovalChallengeRow.release_id,
                    ApprovalChallengeRow.digest,
                    ApprovalChallengeRow.expires_at,
                ).where(*mine)
            )
        ).first()
        if row is None:
            return "unknown"
        # The DELETE decides: of two concurrent uses only one removes the row.
        deleted = await self.session.execute(
            delete(ApprovalChallengeRow).where(*mine).execution_options(synchronize_session=False)
        )
        if rowcount(deleted) != 1:
            return "unknown"
        if now >= row.expires_at:
            return "expired"
        return ApprovalChallenge(release_id=row.release_id, digest=row.digest)
