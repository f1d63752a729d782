"""Incident response (issue 21): freeze a trusted publisher and revoke what it minted.

A frozen publisher trusts nothing (the trust stores never return it, the exchange
refuses with `publisher-frozen`) until it is unfrozen. Freezing also revokes every
unexpired token minted for it (or, by the operator, for a repository) within a
window of issue times, through the revocation store the verifiers and the upload
gateway read: a token minted before the freeze is refused after it.

Owners (2FA, fresh proof: the publishing gate) or the operator (CLI). One
transaction: the flag, the revocations and the audit event with the count stand
or fall together; a revocation store that cannot answer rolls the freeze back
(503), so a retry does the whole thing. Unfreezing never un-revokes a token.

A mint that read the publisher just before the freeze committed records its token
just after: the minted-token log is read again once the freeze is visible, and
what that second pass revokes is audited on its own. With the mint journal that
record can reach SQL seconds later still (trust/unwritten.py): the second pass
then first waits until every replica sees the freeze and every mint that read
the publisher before it has claimed, and reads the journal's unwritten records
before minted_tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

from service.accounts import notify
from service.accounts.core import Context, Deps, audit
from service.accounts.publishing import NO_SUCH_PUBLISHER, Owned, as_owner, describe, notices
from service.publishers.base import INVALID_PAYLOAD, SERVICE_UNAVAILABLE, Refusal
from service.revocation import RevocationStore, RevocationUnavailable
from service.store.base import Transaction
from service.store.records_publishing import MintedTokenRecord, PublisherRecord

# A revoked jti is remembered this long past its expiry (the verifiers' leeway), as
# oauth.authority and the secret-scanning revoker do.
REVOCATION_MARGIN: Final = 300
MAX_REPOSITORY: Final = 255

MESSAGES = {
    "publisher-frozen": (
        "Trusted publisher frozen",
        "A trusted publisher of your project was frozen and the tokens it minted were revoked",
    ),
    "publisher-unfrozen": ("Trusted publisher unfrozen", "A trusted publisher was unfrozen"),
    "publisher-stage-only": (
        "Trusted publisher permission changed",
        "Whether a trusted publisher may publish directly or only stage was changed",
    ),
}
for _event, _text in MESSAGES.items():
    notify.MESSAGES.setdefault(_event, _text)


@dataclass(frozen=True, slots=True)
class Window:
    """Issue times of the tokens to revoke; open ends mean every unexpired token."""

    since: datetime | None = None
    until: datetime | None = None

    def problem(self) -> str | None:
        if self.since is not None and self.until is not None and self.since > self.until:
            return "since: must not be later than until"
        return None


@dataclass(frozen=True, slots=True)
class Frozen:
    publisher: PublisherRecord  # as stored after the change
    revoked: int  # distinct tokens revoked by this call
    changed: bool  # False: it already was frozen (the revocations still ran)


class _Unavailable(Exception):
    """Raised inside the transaction so it rolls back whole."""


class UnwrittenMints(Protocol):
    """Mints answered whose records may not be in minted_tokens yet (trust/unwritten.py)."""

    async def settle(self) -> None:
        """Return once every mint that read trust before this call has been recorded."""

    async def minted(
        self,
        *,
        publisher_id: int | None,
        repository: str | None,
        unexpired_at: datetime,
        since: datetime | None,
        until: datetime | None,
    ) -> list[MintedTokenRecord]:
        """Transaction.minted_tokens' question; RevocationUnavailable when unreadable."""
        ...


def _unavailable() -> Refusal:
    return Refusal(
        SERVICE_UNAVAILABLE,
        "the revocation store is unavailable: nothing was changed; try again",
    )


async def _revoke(
    revocations: RevocationStore, tokens: Sequence[MintedTokenRecord], skip: set[str]
) -> set[str]:
    """Revoke each distinct jti not in `skip` until its expiry + margin; the jtis revoked."""
    until: dict[str, int] = {}
    for token in tokens:
        if token.jti not in skip:
            expiry = int(token.expires_at.timestamp()) + REVOCATION_MARGIN
            until[token.jti] = max(until.get(token.jti, 0), expiry)
    try:
        for jti, when in until.items():
            await revocations.revoke(jti, until=when)
    except RevocationUnavailable:
        raise _Unavailable from None
    return set(until)


async def _minted(
    tx: Transaction,
    deps: Deps,
    *,
    publisher_id: int | None = None,
    repository: str | None = None,
    window: Window,
    unwritten: UnwrittenMints | None = None,
) -> list[MintedTokenRecord]:
    """Unexpired tokens issued in the window: the journal's unwritten records first, then
    minted_tokens (a record written and dropped from the journal in between is in the
    second read)."""
    unexpired = deps.now() - timedelta(seconds=REVOCATION_MARGIN)
    early: list[MintedTokenRecord] = []
    if unwritten is not None:
        try:
            early = await unwritten.minted(
                publisher_id=publisher_id,
                repository=repository,
                unexpired_at=unexpired,
                since=window.since,
                until=window.until,
            )
        except RevocationUnavailable:
            raise _Unavailable from None
    logged = await tx.minted_tokens(
        publisher_id=publisher_id,
        repository=repository,
        unexpired_at=unexpired,
        since=window.since,
        until=window.until,
    )
    return [*early, *logged]


async def _freeze(
    tx: Transaction,
    deps: Deps,
    ctx: Context,
    revocations: RevocationStore,
    publisher: PublisherRecord,
    window: Window,
) -> tuple[bool, set[str]]:
    changed = await tx.set_publisher_frozen(publisher.id, deps.now())
    tokens = await _minted(tx, deps, publisher_id=publisher.id, window=window)
    revoked = await _revoke(revocations, tokens, set())
    await audit(
        tx,
        deps,
        ctx,
        "publisher:frozen",
        project=publisher.project,
        publisher_id=publisher.id,
        publisher=publisher.spec.identity,
        revoked=len(revoked),
        since=_iso(window.since),
        until=_iso(window.until),
    )
    return changed, revoked


async def _second_pass(
    deps: Deps,
    ctx: Context,
    revocations: RevocationStore,
    publisher: PublisherRecord,
    window: Window,
    done: set[str],
    unwritten: UnwrittenMints | None,
) -> int:
    """Tokens recorded by mints that raced the freeze; audited when there are any."""
    if unwritten is not None:
        await unwritten.settle()
    async with deps.store.transaction() as tx:
        tokens = await _minted(
            tx, deps, publisher_id=publisher.id, window=window, unwritten=unwritten
        )
        late = await _revoke(revocations, tokens, done)
        if late:
            await audit(
                tx,
                deps,
                ctx,
                "tokens:revoked-minted",
                project=publisher.project,
                publisher_id=publisher.id,
                revoked=len(late),
                reason="minted while the freeze was committing",
            )
    return len(late)


async def _frozen_result(
    deps: Deps,
    ctx: Context,
    revocations: RevocationStore,
    publisher: PublisherRecord,
    window: Window,
    outcome: tuple[bool, set[str]],
    unwritten: UnwrittenMints | None,
) -> Frozen | Refusal:
    changed, revoked = outcome
    try:
        late = await _second_pass(deps, ctx, revocations, publisher, window, revoked, unwritten)
    except _Unavailable:
        return _unavailable()
    async with deps.store.transaction() as tx:
        stored = await tx.publisher_by_id(publisher.id)
    return Frozen(stored or publisher, len(revoked) + late, changed)


async def _owned_publisher(
    tx: Transaction, deps: Deps, ctx: Context, project: str, publisher_id: int
) -> tuple[Owned, PublisherRecord] | Refusal:
    """The project, if ctx owns it, and its publisher `publisher_id`."""
    owned = await as_owner(tx, deps, ctx, project)
    if isinstance(owned, Refusal):
        return owned
    found = await tx.publisher_by_id(publisher_id)
    # Another project's id is answered as unknown: ids are not secret, roles are.
    if found is None or found.project != owned.name:
        return Refusal(NO_SUCH_PUBLISHER, f"project {owned.name} has no publisher {publisher_id}")
    return owned, found


async def freeze_publisher(
    deps: Deps,
    ctx: Context,
    revocations: RevocationStore,
    project: str,
    publisher_id: int,
    window: Window = Window(),
    unwritten: UnwrittenMints | None = None,
) -> Frozen | Refusal:
    """An owner freezes one of the project's publishers; its tokens are revoked."""
    problem = window.problem()
    if problem is not None:
        return Refusal(INVALID_PAYLOAD, problem)
    try:
        async with deps.store.transaction() as tx:
            found = await _owned_publisher(tx, deps, ctx, project, publisher_id)
            if isinstance(found, Refusal):
                return found
            owned, publisher = found
            outcome = await _freeze(tx, deps, ctx, revocations, publisher, window)
    except _Unavailable:
        return _unavailable()
    result = await _frozen_result(deps, ctx, revocations, publisher, window, outcome, unwritten)
    if not isinstance(result, Refusal):
        detail = f"{owned.name}: {describe(publisher.spec)}; {result.revoked} tokens revoked"
        await deps.notify(*notices(owned, "publisher-frozen", detail))
    return result


async def unfreeze_publisher(
    deps: Deps, ctx: Context, project: str, publisher_id: int
) -> PublisherRecord | Refusal:
    """An owner unfreezes: new mints again; tokens revoked by the freeze stay revoked."""
    async with deps.store.transaction() as tx:
        found = await _owned_publisher(tx, deps, ctx, project, publisher_id)
        if isinstance(found, Refusal):
            return found
        owned, publisher = found
        changed = await _unfreeze(tx, deps, ctx, publisher)
        stored = await tx.publisher_by_id(publisher_id)
    if changed:
        detail = f"{owned.name}: {describe(publisher.spec)}"
        await deps.notify(*notices(owned, "publisher-unfrozen", detail))
    return stored or publisher


async def _unfreeze(tx: Transaction, deps: Deps, ctx: Context, publisher: PublisherRecord) -> bool:
    changed = await tx.set_publisher_frozen(publisher.id, None)
    if changed:
        await audit(
            tx,
            deps,
            ctx,
            "publisher:unfrozen",
            project=publisher.project,
            publisher_id=publisher.id,
            publisher=publisher.spec.identity,
        )
    return changed


async def set_stage_only(
    deps: Deps, ctx: Context, project: str, publisher_id: int, on: bool
) -> PublisherRecord | Refusal:
    """On: every upload from a token this publisher mints waits for a maintainer."""
    async with deps.store.transaction() as tx:
        found = await _owned_publisher(tx, deps, ctx, project, publisher_id)
        if isinstance(found, Refusal):
            return found
        owned, publisher = found
        await tx.set_publisher_stage_only(publisher_id, on)
        await audit(
            tx,
            deps,
            ctx,
            "publisher:stage-only",
            project=owned.name,
            publisher_id=publisher_id,
            publisher=publisher.spec.identity,
            on=on,
        )
        stored = await tx.publisher_by_id(publisher_id)
    state = "may stage, not publish" if on else "may publish"
    detail = f"{owned.name}: {describe(publisher.spec)}: {state}"
    await deps.notify(*notices(owned, "publisher-stage-only", detail))
    return stored or publisher


# The operator's side (CLI): by publisher id or repository, no role needed.


async def operator_freeze(
    deps: Deps,
    ctx: Context,
    revocations: RevocationStore,
    publisher_id: int,
    window: Window = Window(),
    unwritten: UnwrittenMints | None = None,
) -> Frozen | Refusal:
    problem = window.problem()
    if problem is not None:
        return Refusal(INVALID_PAYLOAD, problem)
    try:
        async with deps.store.transaction() as tx:
            publisher = await tx.publisher_by_id(publisher_id)
            if publisher is None:
                return Refusal(NO_SUCH_PUBLISHER, f"no trusted publisher {publisher_id}")
            outcome = await _freeze(tx, deps, ctx, revocations, publisher, window)
    except _Unavailable:
        return _unavailable()
    return await _frozen_result(deps, ctx, revocations, publisher, window, outcome, unwritten)


async def operator_unfreeze(
    deps: Deps, ctx: Context, publisher_id: int
) -> PublisherRecord | Refusal:
    async with deps.store.transaction() as tx:
        publisher = await tx.publisher_by_id(publisher_id)
        if publisher is None:
            return Refusal(NO_SUCH_PUBLISHER, f"no trusted publisher {publisher_id}")
        await _unfreeze(tx, deps, ctx, publisher)
        stored = await tx.publisher_by_id(publisher_id)
    return stored or publisher


async def revoke_minted(
    deps: Deps,
    ctx: Context,
    revocations: RevocationStore,
    *,
    publisher_id: int | None = None,
    repository: str | None = None,
    window: Window = Window(),
    unwritten: UnwrittenMints | None = None,
) -> int | Refusal:
    """Revoke unexpired tokens minted for a publisher and/or a repository; how many."""
    if publisher_id is None and repository is None:
        return Refusal(INVALID_PAYLOAD, "name a publisher or a repository")
    if repository is not None and not 0 < len(repository) <= MAX_REPOSITORY:
        return Refusal(INVALID_PAYLOAD, f"repository: expected 1-{MAX_REPOSITORY} characters")
    problem = window.problem()
    if problem is not None:
        return Refusal(INVALID_PAYLOAD, problem)
    # Lookup keys are stored casefolded (the exchange asks by them).
    key = repository.casefold() if repository is not None else None
    try:
        async with deps.store.transaction() as tx:
            tokens = await _minted(
                tx,
                deps,
                publisher_id=publisher_id,
                repository=key,
                window=window,
                unwritten=unwritten,
            )
            revoked = await _revoke(revocations, tokens, set())
            await audit(
                tx,
                deps,
                ctx,
                "tokens:revoked-minted",
                publisher_id=publisher_id,
                repository=key,
                revoked=len(revoked),
                projects=sorted({t.project for t in tokens}),
                since=_iso(window.since),
                until=_iso(window.until),
            )
    except _Unavailable:
        return _unavailable()
    return len(revoked)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()
