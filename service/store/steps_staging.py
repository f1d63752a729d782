"""Step group of staged publishing, joined into Transaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

from service.store.records_staging import (
    ApprovalChallenge,
    StagedFileRecord,
    StagedReleaseRecord,
    StagedStatus,
    StagingPolicyRecord,
)

ChallengeUse = ApprovalChallenge | Literal["expired", "unknown"]


class StagingSteps(Protocol):
    async def staging_policy(self, project_id: int) -> StagingPolicyRecord | None: ...

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
    ) -> StagingPolicyRecord: ...

    async def open_staged_release(
        self, project_id: int, project: str, version: str, *, now: datetime, expires_at: datetime
    ) -> StagedReleaseRecord:
        """The release of (project, version) still waiting, or a new one."""

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
        """Raises Duplicate when the release already holds a file of that name."""

    async def staged_release(self, release_id: int) -> StagedReleaseRecord | None: ...

    async def staged_releases(
        self, projects: Sequence[str] | None, statuses: Sequence[StagedStatus]
    ) -> list[StagedReleaseRecord]:
        """Oldest first; `projects` None means every project (operator views)."""

    async def version_approved(self, project_id: int, version: str) -> bool: ...

    async def named_storage_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` that some staged file names, whatever its release's status."""

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
        """Change the status only if it is still `was`: True for exactly one of racers.

        Moving to `approving` stamps `approving_since` (required then); any other move
        clears it, so only a release in `approving` carries one.
        """

    async def mark_staged_file_forwarded(self, file_id: int, at: datetime) -> None: ...

    async def add_approval_challenge(
        self,
        user_id: int,
        release_id: int,
        digest: str,
        challenge: bytes,
        *,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    async def consume_approval_challenge(
        self, user_id: int, challenge: bytes, now: datetime
    ) -> ChallengeUse:
        """Delete it; what it was issued for, for exactly one of concurrent uses, if unexpired."""
