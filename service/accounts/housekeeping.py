"""Sweeping expired rows: sessions, WebAuthn challenges, invitations, pending publishers.

Nothing expired is ever honoured (each check compares with `now`), so the
sweep is about keeping tables small, not about security. It runs
opportunistically, at most once per interval, riding on logins (no timer to
run in every replica), and on demand with `mintgate db sweep`.

Expired invitations are kept for a while longer so that their invitee is
told "expired, ask again" rather than "no such invitation".
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

from service.accounts.core import Context, Deps, audit
from service.store.records import Swept

log = logging.getLogger(__name__)

INVITATION_GRACE: Final = timedelta(days=30)
SWEEP_EVERY: Final = timedelta(minutes=10)


async def sweep(deps: Deps, ctx: Context | None = None) -> Swept:
    """One transaction; with a Context (an operator) the sweep is audited even if empty."""
    now = deps.now()
    async with deps.store.transaction() as tx:
        swept = await tx.delete_expired(now, invitations_before=now - INVITATION_GRACE)
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
            )
    if swept.total:
        log.info(
            "swept expired rows: %d sessions, %d challenges, %d invitations, %d pending publishers",
            swept.sessions,
            swept.challenges,
            swept.invitations,
            swept.pending_publishers,
        )
    return swept


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
