"""What every account service function receives and shares.

Service functions are what the HTTP API (next slice) and the CLI call: each
takes `Deps` (the store, a clock, the notifier, the operator's policy) and a
`Context` naming the acting user, runs one transaction, and returns a result
or a `Refusal` with a stable code and a sentence. Notices go out after the
commit, so a mail outage can neither undo nor block a change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Final

from service.accounts.notify import LogNotifier, Notice, Notifier, deliver
from service.publishers.base import Refusal
from service.store.base import AuditEvent, Store, Transaction, UserRecord

NO_SUCH_USER: Final = "no-such-user"
NOT_SIGNED_IN: Final = "not-signed-in"


@dataclass(frozen=True, slots=True)
class Context:
    """Who is acting and from where, for the audit trail."""

    actor: str
    actor_user_id: int | None = None
    ip: str | None = None
    user_agent: str | None = None
    # The session acting, when a session acts: kept when turning 2FA on revokes the rest.
    session_id: int | None = None


@dataclass(frozen=True, slots=True)
class Enforcement:
    """The operator's 2FA policy beyond the always-gated actions."""

    # From this day on, every project or organisation maintainer without 2FA
    # is held at enrolment (MINTGATE_TWO_FACTOR_REQUIRED_FROM).
    required_from: date | None = None


@dataclass(frozen=True, slots=True)
class Deps:
    store: Store
    clock: Callable[[], float] = time.time
    notifier: Notifier = field(default_factory=LogNotifier)
    enforcement: Enforcement = field(default_factory=Enforcement)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def notify(self, *notices: Notice) -> None:
        await deliver(self.notifier, notices)


async def audit(
    tx: Transaction,
    deps: Deps,
    ctx: Context,
    event: str,
    *,
    subject: int | None = None,
    project: str | None = None,
    organization: str | None = None,
    **details: Any,
) -> None:
    await tx.record(
        AuditEvent(
            event=event,
            actor=ctx.actor,
            actor_user_id=ctx.actor_user_id,
            subject_user_id=subject,
            subject_project=project,
            subject_organization=organization,
            ip=ctx.ip,
            user_agent=ctx.user_agent,
            occurred_at=deps.now(),
            details=details,
        )
    )


async def acting_user(tx: Transaction, ctx: Context) -> UserRecord | Refusal:
    """The acting user as stored now: a session's copy may be minutes old."""
    if ctx.actor_user_id is None:
        return Refusal(NOT_SIGNED_IN, "sign in first")
    user = await tx.user_by_id(ctx.actor_user_id)
    if user is None:
        return Refusal(NO_SUCH_USER, "the signed-in account no longer exists")
    return user


def deps_for(
    store: Store, smtp_url: str | None, smtp_from: str, required_from: date | None
) -> Deps:
    """Deps as the commands (and later the app) build them from Settings."""
    from service.accounts.notify import notifier_for

    return Deps(
        store,
        notifier=notifier_for(smtp_url, smtp_from),
        enforcement=Enforcement(required_from=required_from),
    )
