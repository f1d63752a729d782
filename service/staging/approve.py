"""Approving a staged release: the maintainer's own proof, intact files, forwarded once.

The order: maintainer with 2FA -> release still waiting, unexpired, and the
files the maintainer saw (digest) -> the second factor made for this approval
-> every file re-hashed against its recorded SHA-256 -> the release claimed
(staged -> approving, a conditional UPDATE: of two maintainers approving at
once exactly one proceeds) -> each file forwarded, hashed again as it streams
(a file changed mid-send is cut off before its multipart end, so the registry
never receives it whole) -> approved, by whom, audited, everyone told. A failed
forward puts the release back to waiting; files already stored are not sent again.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

from service.accounts.core import Context, Deps, audit
from service.accounts.policy import Action
from service.accounts.security_keys import Options
from service.publishers.base import Refusal
from service.staging import notices
from service.staging.area import StagedFileMissing, StagingArea
from service.staging.backend import Chunks, Forwarder
from service.staging.proof import Confirmations, Proof
from service.staging.review import _discard, as_maintainer, decided
from service.staging.rules import (
    FORWARD_FAILED,
    STAGED_FILES_CHANGED,
    STAGED_RELEASE_CHANGED,
    STAGED_RELEASE_EXPIRED,
)
from service.store.base import UserRecord
from service.store.records_staging import StagedFileRecord, StagedReleaseRecord

STAGING_NOT_CONFIGURED = "staging-not-configured"


class FileChanged(Exception):
    pass


class Approvals:
    def __init__(
        self,
        deps: Deps,
        area: StagingArea | None,
        forwarder: Forwarder | None,
        confirmations: Confirmations,
    ) -> None:
        self.deps = deps
        self.area = area
        self.forwarder = forwarder
        self.confirmations = confirmations

    async def key_options(self, ctx: Context, release_id: int) -> Options | Refusal:
        """A security-key challenge for approving this release as it is now."""
        async with self.deps.store.transaction() as tx:
            found = await as_maintainer(tx, self.deps, ctx, release_id, Action.UPLOAD)
            if isinstance(found, Refusal):
                return found
            user, release = found
            refused = self._waiting(release, release.digest)
            if refused is not None:
                return refused
            return await self.confirmations.challenge(tx, user, release)

    async def approve(
        self, ctx: Context, release_id: int, digest: str, proof: Proof | None
    ) -> StagedReleaseRecord | Refusal:
        async with self.deps.store.transaction() as tx:
            found = await as_maintainer(tx, self.deps, ctx, release_id, Action.UPLOAD)
        if isinstance(found, Refusal):
            return found
        user, release = found
        refused = self._waiting(release, digest)
        area, forwarder = self.area, self.forwarder
        if refused is None and (area is None or forwarder is None):
            return Refusal(
                STAGING_NOT_CONFIGURED,
                "this service cannot forward staged files: MINTGATE_STAGING_DIR and"
                " MINTGATE_STAGING_BACKEND_URL are not set",
            )
        if refused is None:
            refused = await self.confirmations.confirm(ctx, user, release, proof)
        if refused is not None:
            await self._record(ctx, release, "staged:approval-refused", reason=refused.code)
            return refused
        assert area is not None
        assert forwarder is not None
        changed = await self._changed(release, area)
        if changed:
            return await self._tampered(ctx, release, changed)
        async with self.deps.store.transaction() as tx:
            # approving_since lets `staged sweep` recover the release if this process dies
            # before it is approved or put back (review.APPROVAL_STALLED).
            if not await tx.move_staged_release(
                release.id, "staged", "approving", approving_since=self.deps.now()
            ):
                return decided(release)
            await audit(
                tx, self.deps, ctx, "staged:approving", project=release.project,
                release_id=release.id, digest=release.digest,
            )  # fmt: skip
        for staged in release.files:
            if staged.forwarded_at is None:
                failed = await self._forward(staged, area, forwarder)
                if failed is not None:
                    await self._back_to_waiting(ctx, release, failed)
                    return failed
        return await self._approved(ctx, user, release, area)

    def _waiting(self, release: StagedReleaseRecord, digest: str) -> Refusal | None:
        if release.status != "staged":
            return decided(release)
        if release.expired(self.deps.now()):
            return Refusal(
                STAGED_RELEASE_EXPIRED,
                f"staged release {release.id} expired at {release.expires_at.isoformat()}",
            )
        if digest != release.digest:
            return Refusal(
                STAGED_RELEASE_CHANGED,
                f"staged release {release.id} no longer holds the files you reviewed (digest"
                f" {release.digest}): review it again",
            )
        return None

    async def _changed(self, release: StagedReleaseRecord, area: StagingArea) -> list[str]:
        changed = []
        for staged in release.files:
            if staged.forwarded_at is not None:
                continue
            now = await area.measure(staged.storage_key)
            if now is None or (now.size, now.sha256) != (staged.size, staged.sha256):
                changed.append(staged.filename)
        return changed

    async def _forward(
        self, staged: StagedFileRecord, area: StagingArea, forwarder: Forwarder
    ) -> Refusal | None:
        try:
            failed = await forwarder.send(staged, _verified(area, staged))
        except (FileChanged, StagedFileMissing):
            failed = Refusal(
                STAGED_FILES_CHANGED, f"{staged.filename} changed while it was being forwarded"
            )
        if failed is None:
            async with self.deps.store.transaction() as tx:
                await tx.mark_staged_file_forwarded(staged.id, self.deps.now())
        return failed

    async def _back_to_waiting(
        self, ctx: Context, release: StagedReleaseRecord, failed: Refusal
    ) -> None:
        async with self.deps.store.transaction() as tx:
            await tx.move_staged_release(release.id, "approving", "staged")
            await audit(
                tx, self.deps, ctx, "staged:forward-failed", project=release.project,
                release_id=release.id, reason=failed.code, detail=failed.description[:500],
            )  # fmt: skip

    async def _approved(
        self, ctx: Context, user: UserRecord, release: StagedReleaseRecord, area: StagingArea
    ) -> StagedReleaseRecord | Refusal:
        now = self.deps.now()
        async with self.deps.store.transaction() as tx:
            if not await tx.move_staged_release(
                release.id, "approving", "approved", at=now, by_user_id=user.id, by=user.username
            ):
                # The sweep found this approval stalled and put the release back: it waits
                # again, its forwarded files stay forwarded, and a new approval sends the rest.
                return decided(release)
            await audit(
                tx, self.deps, ctx, "staged:approved", project=release.project,
                release_id=release.id, version=release.version, digest=release.digest,
                files=[{"filename": f.filename, "sha256": f.sha256} for f in release.files],
            )  # fmt: skip
            people = await notices.maintainers(tx, release.project_id)
            updated = await tx.staged_release(release.id)
        await _discard(area, release)
        detail = f"{release.project} {release.version} by {user.username}"
        await self.deps.notify(*notices.to_all(people, "release-approved", detail))
        assert updated is not None
        return updated

    async def _tampered(
        self, ctx: Context, release: StagedReleaseRecord, changed: list[str]
    ) -> Refusal:
        await self._record(ctx, release, "staged:tampered", files=changed)
        async with self.deps.store.transaction() as tx:
            people = await notices.maintainers(tx, release.project_id)
        detail = f"{release.project} {release.version}: {', '.join(changed)}"
        await self.deps.notify(*notices.to_all(people, "release-tampered", detail))
        return Refusal(
            STAGED_FILES_CHANGED,
            f"{', '.join(changed)} no longer match the SHA-256 recorded when staged: nothing was"
            " published; reject this release and upload again",
        )

    async def _record(
        self, ctx: Context, release: StagedReleaseRecord, event: str, **details: Any
    ) -> None:
        async with self.deps.store.transaction() as tx:
            await audit(
                tx, self.deps, ctx, event, project=release.project, release_id=release.id,
                **details,
            )  # fmt: skip


def _verified(area: StagingArea, staged: StagedFileRecord) -> Chunks:
    async def chunks() -> AsyncIterator[bytes]:
        digest, size = hashlib.sha256(), 0
        async for chunk in area.read(staged.storage_key):
            digest.update(chunk)
            size += len(chunk)
            if size > staged.size:
                raise FileChanged(staged.filename)
            yield chunk
        if (size, digest.hexdigest()) != (staged.size, staged.sha256):
            raise FileChanged(staged.filename)

    return chunks


__all__ = ["FORWARD_FAILED", "Approvals", "FileChanged"]
