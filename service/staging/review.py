"""Maintainers' view of staged releases: list, show, reject; and the sweep (expiry, stalls,
orphaned files).

Each function is one transaction (plus file removal after it) and returns a
result or a Refusal. Only maintainers of a project (owners included) see or
decide its staged releases; deciding needs 2FA on the account.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from service.accounts.core import Context, Deps, audit
from service.accounts.policy import Action
from service.accounts.projects import NOT_A_MAINTAINER, admitted, normalized
from service.publishers.base import Refusal
from service.staging import notices
from service.staging.area import StagingArea
from service.staging.rules import NO_SUCH_STAGED_RELEASE, STAGED_RELEASE_DECIDED
from service.store.base import Transaction, UserRecord
from service.store.records_staging import STAGED_STATUSES, StagedReleaseRecord, StagedStatus

WAITING: tuple[StagedStatus, ...] = ("staged", "approving")
SWEEPER = Context(actor="mintgate:staging-sweep")
# An approval claims its release, then forwards the files: minutes for large ones, never
# an hour. A release in `approving` longer than this lost the process approving it.
APPROVAL_STALLED = timedelta(hours=1)
# Intake writes a file, then records it: a file no row names may be an upload recorded in a
# moment (or still being written, minutes for large ones). Older than this, its intake died.
ORPHAN_AFTER = timedelta(days=1)

log = logging.getLogger(__name__)


def _missing(release_id: int) -> Refusal:
    # The same answer for "no such release" and "not yours": ids are not to be probed.
    return Refusal(NO_SUCH_STAGED_RELEASE, f"no staged release {release_id} in your projects")


async def as_maintainer(
    tx: Transaction, deps: Deps, ctx: Context, release_id: int, action: Action
) -> tuple[UserRecord, StagedReleaseRecord] | Refusal:
    """The acting user and the release, once the 2FA gate lets `action` through."""
    admission = await admitted(tx, deps, ctx, action, deps.now())
    if isinstance(admission, Refusal):
        return admission
    user, exposure = admission
    release = await tx.staged_release(release_id)
    if release is None or release.project not in exposure.projects:
        return _missing(release_id)
    return user, release


async def list_staged(
    deps: Deps, ctx: Context, *, project: str | None = None, decided: bool = False
) -> list[StagedReleaseRecord] | Refusal:
    """Waiting releases of every project the user maintains (or one); `decided` adds the rest."""
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.VIEW_PROJECTS, deps.now())
        if isinstance(admission, Refusal):
            return admission
        names: Sequence[str] = admission[1].projects
        if project is not None:
            name = normalized(project)
            if isinstance(name, Refusal):
                return name
            if name not in names:
                return Refusal(NOT_A_MAINTAINER, f"you are not a maintainer of project {name}")
            names = [name]
        return await tx.staged_releases(names, STAGED_STATUSES if decided else WAITING)


async def show_staged(deps: Deps, ctx: Context, release_id: int) -> StagedReleaseRecord | Refusal:
    async with deps.store.transaction() as tx:
        found = await as_maintainer(tx, deps, ctx, release_id, Action.VIEW_PROJECTS)
    return found if isinstance(found, Refusal) else found[1]


async def reject_staged(
    deps: Deps, area: StagingArea | None, ctx: Context, release_id: int, reason: str = ""
) -> StagedReleaseRecord | Refusal:
    """Discard a waiting release: nothing reaches the registry, and its files are deleted.

    Without a staging area here (MINTGATE_STAGING_DIR unset) the release is still
    rejected, so it can never be approved; its files go with `mintgate staged sweep`.
    """
    async with deps.store.transaction() as tx:
        found = await as_maintainer(tx, deps, ctx, release_id, Action.UPLOAD)
    if isinstance(found, Refusal):
        return found
    return await _reject(deps, area, ctx, found[1], found[0], reason)


async def reject_as_operator(
    deps: Deps, area: StagingArea | None, ctx: Context, release_id: int, reason: str
) -> StagedReleaseRecord | Refusal:
    """`mintgate staged reject`: whoever holds the database may always stop a release."""
    async with deps.store.transaction() as tx:
        release = await tx.staged_release(release_id)
    if release is None:
        return _missing(release_id)
    return await _reject(deps, area, ctx, release, None, reason)


async def _reject(
    deps: Deps,
    area: StagingArea | None,
    ctx: Context,
    release: StagedReleaseRecord,
    user: UserRecord | None,
    reason: str,
) -> StagedReleaseRecord | Refusal:
    now = deps.now()
    async with deps.store.transaction() as tx:
        if not await tx.move_staged_release(
            release.id,
            "staged",
            "rejected",
            at=now,
            by_user_id=None if user is None else user.id,
            by=ctx.actor[:50] if user is None else user.username,
        ):
            return decided(release)
        await audit(
            tx, deps, ctx, "staged:rejected", project=release.project, release_id=release.id,
            version=release.version, files=[f.filename for f in release.files], reason=reason,
        )  # fmt: skip
        people = await notices.maintainers(tx, release.project_id)
        updated = await tx.staged_release(release.id)
    if area is not None:
        await _discard(area, release)
    detail = f"{release.project} {release.version} by {ctx.actor}"
    await deps.notify(*notices.to_all(people, "release-rejected", detail))
    assert updated is not None
    return updated


@dataclass(frozen=True, slots=True)
class StagedSweep:
    """What one `staged sweep` did: releases expired, stalled approvals put back, and the
    keys of orphaned files removed."""

    expired: list[StagedReleaseRecord] = field(default_factory=list)
    recovered: list[StagedReleaseRecord] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)


async def sweep(deps: Deps, area: StagingArea) -> StagedSweep:
    """Expire every waiting release past its time and delete its files, put back every
    approval stalled past APPROVAL_STALLED, and delete files no staged file names that are
    older than ORPHAN_AFTER (cron: `staged sweep`)."""
    now = deps.now()
    async with deps.store.transaction() as tx:
        due = [r for r in await tx.staged_releases(None, ("staged",)) if r.expired(now)]
        rejected = await tx.staged_releases(None, ("rejected",))
        stalled = [r for r in await tx.staged_releases(None, ("approving",)) if _stalled(r, now)]
    for release in rejected:  # rejected where no staging area was at hand
        await _discard(area, release)
    expired = [r for r in due if await _expire(deps, area, r, now)]
    # A stalled release past its expiry is expired by the next sweep, once it waits again.
    recovered = [r for r in stalled if await _recover(deps, r)]
    return StagedSweep(expired=expired, recovered=recovered, orphans=await _orphans(deps, area))


async def _expire(
    deps: Deps, area: StagingArea, release: StagedReleaseRecord, now: datetime
) -> bool:
    """Expire one overdue release and delete its files; False if it no longer waited."""
    async with deps.store.transaction() as tx:
        # One at a time, conditionally: an approval that claimed it meanwhile wins.
        if not await tx.move_staged_release(release.id, "staged", "expired", at=now):
            return False
        await audit(
            tx,
            deps,
            SWEEPER,
            "staged:expired",
            project=release.project,
            release_id=release.id,
            version=release.version,
            files=[f.filename for f in release.files],
        )
        people = await notices.maintainers(tx, release.project_id)
    await _discard(area, release)
    detail = f"{release.project} {release.version}, staged {release.staged_at:%Y-%m-%d}"
    await deps.notify(*notices.to_all(people, "release-expired", detail))
    return True


async def _orphans(deps: Deps, area: StagingArea) -> list[str]:
    """Remove files their intake wrote but died before recording; their keys."""
    old = await area.keys_before(deps.now() - ORPHAN_AFTER)
    # Read after listing: a file recorded in between is named here, and stays.
    async with deps.store.transaction() as tx:
        named = await tx.named_storage_keys(old)
    orphans = [key for key in old if key not in named]
    for key in orphans:
        await area.remove(key)
        log.info("staging area: removed orphaned file %s", key)
    return orphans


def _stalled(release: StagedReleaseRecord, now: datetime) -> bool:
    since = release.approving_since
    return since is not None and now - since >= APPROVAL_STALLED


async def _recover(deps: Deps, release: StagedReleaseRecord) -> bool:
    """Put a stalled approval's release back to waiting; its files stay, forwarded or not."""
    assert release.approving_since is not None
    began = release.approving_since.isoformat()
    async with deps.store.transaction() as tx:
        # Conditionally: an approval that finished (or failed and put it back) meanwhile wins.
        if not await tx.move_staged_release(release.id, "approving", "staged"):
            return False
        await audit(
            tx,
            deps,
            SWEEPER,
            "staged:approval-stalled",
            project=release.project,
            release_id=release.id,
            version=release.version,
            approving_since=began,
            forwarded=[f.filename for f in release.files if f.forwarded_at is not None],
        )
        people = await notices.maintainers(tx, release.project_id)
    detail = f"{release.project} {release.version}, approval began {began}"
    await deps.notify(*notices.to_all(people, "release-approval-stalled", detail))
    return True


def decided(release: StagedReleaseRecord) -> Refusal:
    return Refusal(
        STAGED_RELEASE_DECIDED,
        f"staged release {release.id} ({release.project} {release.version}) is no longer"
        " waiting: another maintainer decided it, or it expired",
    )


async def _discard(area: StagingArea, release: StagedReleaseRecord) -> None:
    for staged in release.files:
        await area.remove(staged.storage_key)
