"""The gateway's half: decide whether an upload is staged, and stage it.

The file is written to the staging area first (long I/O, no transaction open),
then recorded with its size, SHA-256 and the minted token's provenance in one
transaction with its audit event. If recording fails the written file is
removed: nothing waits that no maintainer can see.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.accounts.notify import LogNotifier, Notifier, deliver
from service.apitokens.authorize import VerifiedApiToken
from service.minting.tokens import stage_only_projects
from service.publishers.base import Refusal
from service.staging import notices
from service.staging.area import StagingArea
from service.staging.rules import DEFAULT_TTL, STAGED_FILE_EXISTS, stages
from service.store.base import AuditEvent, Duplicate, Store
from service.store.records_staging import StagedFileRecord, StagedReleaseRecord

log = logging.getLogger(__name__)

# The provenance key of an upload made with an API token (its id): pages show it.
API_TOKEN = "api_token"


@dataclass(frozen=True, slots=True)
class Uploader:
    """What the token says about who uploaded: a trusted publisher's run, or an API token."""

    subject: str
    jti: str  # the minted token's jti, or the API token's id (neither is a secret)
    publishers: tuple[str, ...]
    provenance: Mapping[str, str]
    api_token: bool = False
    # Issue 21: projects whose publisher may stage, not publish (the signed claim).
    stage_only: frozenset[str] = frozenset()

    @classmethod
    def from_api_token(cls, token: VerifiedApiToken) -> Uploader:
        # No run vouches for it: the reviewer sees whose token it was, and which.
        return cls(
            subject=f"user:{token.user_name}",
            jti=token.token_id,
            publishers=(),
            provenance={API_TOKEN: token.token_id, "user": token.user_name},
            api_token=True,
        )

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Uploader:
        publishers = claims.get("publishers")
        provenance = claims.get("provenance")
        return cls(
            subject=str(claims.get("sub", "")),
            jti=str(claims.get("jti", "")),
            publishers=tuple(p for p in publishers if isinstance(p, str))
            if isinstance(publishers, list)
            else (),
            # The API-token marker is ours to set, never a claim's.
            provenance={
                k: v for k, v in provenance.items() if isinstance(v, str) and k != API_TOKEN
            }
            if isinstance(provenance, dict)
            else {},
            stage_only=stage_only_projects(claims),
        )


@dataclass(frozen=True, slots=True)
class Staged:
    release: StagedReleaseRecord  # as it was before this file joined it
    file: StagedFileRecord


class Intake:
    def __init__(
        self,
        store: Store,
        area: StagingArea,
        *,
        clock: Callable[[], float] = time.time,
        ttl: timedelta = DEFAULT_TTL,
        notifier: Notifier | None = None,
    ) -> None:
        self.store = store
        self.area = area
        self.clock = clock
        self.ttl = ttl
        self.notifier = notifier or LogNotifier()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def staged_project(self, project: str, version: str, uploader: Uploader) -> int | None:
        """The project's id when this upload must wait for approval; None to forward it.

        Raises StoreError (or a driver error) when the database cannot answer:
        the gateway then refuses with 503 rather than publish unreviewed.
        """
        async with self.store.transaction() as tx:
            found = await tx.project_by_name(project)
            if found is None:
                return None
            # Issue 21 hook: a stage-only publisher's upload waits, whatever the policy says.
            if project in uploader.stage_only:
                return found.id
            policy = await tx.staging_policy(found.id)
            if policy is None or not policy.enabled:
                return None
            approved = await tx.version_approved(found.id, version)
        staged = stages(
            policy, uploader.publishers, version_approved=approved, api_token=uploader.api_token
        )
        return found.id if staged else None

    async def stage(
        self,
        project_id: int,
        project: str,
        version: str,
        filename: str,
        fields: Sequence[tuple[str, str]],
        chunks: AsyncIterable[bytes],
        uploader: Uploader,
    ) -> Staged | Refusal:
        stored = await self.area.put(chunks)
        now = self._now()
        try:
            async with self.store.transaction() as tx:
                release = await tx.open_staged_release(
                    project_id, project, version, now=now, expires_at=now + self.ttl
                )
                try:
                    added = await tx.add_staged_file(
                        release.id,
                        filename=filename,
                        size=stored.size,
                        sha256=stored.sha256,
                        storage_key=stored.key,
                        fields=fields,
                        provenance=uploader.provenance,
                        publishers=uploader.publishers,
                        subject=uploader.subject,
                        jti=uploader.jti,
                        now=now,
                    )
                except Duplicate:
                    added = None
                else:
                    await tx.record(
                        AuditEvent(
                            event="staged:file",
                            actor=uploader.subject[:100],
                            actor_user_id=None,
                            subject_user_id=None,
                            subject_project=project,
                            subject_organization=None,
                            ip=None,
                            user_agent=None,
                            occurred_at=now,
                            details={
                                "release_id": release.id,
                                "version": version,
                                "filename": filename,
                                "size": stored.size,
                                "sha256": stored.sha256,
                                "jti": uploader.jti,
                                "publishers": list(uploader.publishers),
                                "provenance": dict(uploader.provenance),
                            },
                        )
                    )
                    people = await notices.maintainers(tx, project_id)
        except BaseException:
            await self.area.remove(stored.key)
            raise
        if added is None:
            await self.area.remove(stored.key)
            return Refusal(
                STAGED_FILE_EXISTS,
                f"{filename} is already staged for {project} {version}: approve or reject it first",
            )
        run = uploader.provenance.get("repository", uploader.subject)
        detail = f"{project} {version}: {filename} from {run}, staged release {release.id}"
        await deliver(self.notifier, notices.to_all(people, "release-staged", detail))
        return Staged(release, added)
