"""Sweeping expired rows: sessions, WebAuthn challenges, invitations, pending publishers,
minted-token records a day past their expiry, the trust change feed an hour back, and,
only when the operator sets a retention (`mintgate db sweep`), old audit events.

Nothing expired is ever honoured (each check compares with `now`), so the
sweep is about keeping tables small, not about security. It runs
opportunistically, at most once per interval, riding on logins (no timer to
run in every replica), and on demand with `mintgate db sweep`.

Expired invitations are kept for a while longer so that their invitee is
told "expired, ask again" rather than "no such invitation".
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Final

from service.accounts.core import Context, Deps, audit
from service.store.records import Swept

log = logging.getLogger(__name__)

INVITATION_GRACE: Final = timedelta(days=30)
# Incident response revokes unexpired tokens: a day past expiry the row is history.
MINTED_GRACE: Final = timedelta(days=1)
# Replicas poll the feed every 0.2 s; one that is an hour behind drops its index anyway.
TRUST_FEED_KEPT: Final = timedelta(hours=1)
SWEEP_EVERY: Final = timedelta(minutes=10)


async def sweep(
    deps: Deps, ctx: Context | None = None, *, audit_retention: timedelta | None = None
) -> Swept:
    """One transaction; with a Context (an operator) the sweep is audited even if empty.

    Audit events are deleted only with an `audit_retention` (MINTGATE_AUDIT_RETENTION_DAYS,
    applied by `mintgate db sweep`): by default the trail is kept for ever.
    """
    now = deps.now()
    async with deps.store.transaction() as tx:
        swept = await tx.delete_expired(
            now,
            invitations_before=now - INVITATION_GRACE,
            minted_before=now - MINTED_GRACE,
            audit_before=None if audit_retention is None else now - audit_retention,
        )
        trimmed = await tx.trim_trust_changes(int((now - TRUST_FEED_KEPT).timestamp()))
        swept = replace(swept, trust_changes=trimmed)
        if ctx is not None:
            await audit(
                tx,
                deps,
                ctx,
                "operator:sweep",
                sessions=swept.sessions,
                challenges=swept.challenges,
                invitations=swept.invitations,
                pending_publishers=swept.pending_publishers,
                minted_tokens=swept.minted_tokens,
                trust_changes=swept.trust_changes,
                audit_events=swept.audit_events,
            )
    if swept.total:
        log.info("swept expired rows: %s", describe(swept))
    return swept


def describe(swept: Swept) -> str:
    return (
        f"{swept.sessions} sessions, {swept.challenges} WebAuthn challenges,"
        f" {swept.invitations} invitations, {swept.pending_publishers} pending publishers,"
        f" {swept.minted_tokens} minted-token records, {swept.trust_changes} trust changes,"
        f" {swept.audit_events} audit events"
    )


class Sweeper:
    """Runs `sweep` when asked, at most once per `every` by the deps' clock."""

    def __init__(self, deps: Deps, every: timedelta = SWEEP_EVERY) -> None:
        self.deps = deps
        self.every = every.total_seconds()
        self._next = float("-inf")

    async def maybe(self) -> Swept | None:
        now = self.deps.clock()
        if now < self._next:
            return None
        # Claimed before the await: concurrent logins do not all sweep at once.
        self._next = now + self.every
        return await sweep(self.deps)
