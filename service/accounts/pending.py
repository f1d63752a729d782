"""Pending publishers: trust a publisher for a project name nobody has taken yet.

The first exchange the publisher wins creates the project, with the registrant
as owner (trust/sql.py, one transaction). Registration needs 2FA and a fresh
proof (it decides who will own a project), expires after PENDING_LIFETIME and
is counted per user per day, so one account cannot reserve names in bulk.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from service.accounts.core import Context, Deps, acting_user, audit
from service.accounts.notify import Notice
from service.accounts.policy import Action
from service.accounts.projects import NAME_TAKEN, admitted, normalized
from service.accounts.publishing import PUBLISHER_EXISTS, describe, validated
from service.issuers import Issuers
from service.publishers.base import Refusal
from service.ratelimit import RateLimited
from service.store.base import Duplicate
from service.store.records_publishing import PendingPublisherRecord

PENDING_LIFETIME: Final = timedelta(days=30)
PER_DAY: Final = 5
RATE_LIMITED: Final = "rate-limited"
NO_SUCH_PENDING_PUBLISHER: Final = "no-such-pending-publisher"


async def add_pending_publisher(
    deps: Deps,
    ctx: Context,
    issuers: Issuers,
    project: str,
    table: Mapping[str, Any],
    *,
    per_day: int = PER_DAY,
) -> PendingPublisherRecord | Refusal:
    key = normalized(project)
    if isinstance(key, Refusal):
        return key
    spec = validated(table, issuers)
    if isinstance(spec, Refusal):
        return spec
    now = deps.now()
    async with deps.store.transaction() as tx:
        admission = await admitted(tx, deps, ctx, Action.MANAGE_PUBLISHERS, now)
        if isinstance(admission, Refusal):
            return admission
        user = admission[0]
        if await tx.project_by_name(key) is not None:
            return Refusal(
                NAME_TAKEN, f"project {key!r} exists: its owners add publishers to it directly"
            )
        if await tx.pending_registered_since(user.id, now - timedelta(days=1)) >= per_day:
            return RateLimited(
                RATE_LIMITED,
                f"at most {per_day} pending publishers a day per account; try again tomorrow",
                retry_after=3600,
            )
        try:
            added = await tx.add_pending_publisher(
                project, key, spec, created_by=user.id, now=now, expires_at=now + PENDING_LIFETIME
            )
        except Duplicate:
            return Refusal(PUBLISHER_EXISTS, f"this publisher is already pending for {key!r}")
        await audit(
            tx,
            deps,
            ctx,
            "pending-publisher:added",
            subject=user.id,
            project=key,
            pending_publisher_id=added.id,
            provider=spec.provider,
            issuer=spec.issuer,
            publisher=spec.identity,
            expires_at=added.expires_at.isoformat(),
        )
    await deps.notify(
        Notice(user.email, user.username, "pending-publisher-added", f"{key}: {describe(spec)}")
    )
    return added


async def list_pending_publishers(
    deps: Deps, ctx: Context
) -> list[PendingPublisherRecord] | Refusal:
    """The acting user's registrations, reified, expired and invalidated ones included."""
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        return await tx.pending_publishers_of(user.id)


async def remove_pending_publisher(
    deps: Deps, ctx: Context, pending_id: int
) -> PendingPublisherRecord | Refusal:
    """Withdrawing one's own registration needs no fresh proof: it only takes trust away."""
    async with deps.store.transaction() as tx:
        user = await acting_user(tx, ctx)
        if isinstance(user, Refusal):
            return user
        found = await tx.pending_publisher_by_id(pending_id)
        if found is None or not await tx.delete_pending_publisher(pending_id, user.id):
            return Refusal(NO_SUCH_PENDING_PUBLISHER, f"you have no pending publisher {pending_id}")
        await audit(
            tx,
            deps,
            ctx,
            "pending-publisher:removed",
            subject=user.id,
            project=found.normalized_name,
            pending_publisher_id=pending_id,
        )
    return found
