"""Expired rows are swept: by `sweep` on demand, and at most every few minutes on logins.
Time moves by the injected clock only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from accounts_helpers import CTX, ctx_for, new_user
from fakeissuer import Clock

from service.accounts.accounts import Accounts
from service.accounts.core import Context, Deps
from service.accounts.housekeeping import INVITATION_GRACE, SWEEP_EVERY, Sweeper, sweep
from service.accounts.invitations import invite
from service.accounts.projects import create_project
from service.accounts.sessions import Sessions
from service.store import SqlStore
from service.store.records import InvitationRecord, ProjectRecord, Swept
from service.store.records_publishing import MintedTokenRecord, PublisherSpec

pytestmark = pytest.mark.anyio

DAY_TD = timedelta(days=1)
DAY = DAY_TD.total_seconds()
SPEC = PublisherSpec(
    provider="github",
    issuer="https://token.actions.githubusercontent.com",
    lookup_key="octo/pkg",
    identity="octo/pkg release.yml",
    fingerprint="f" * 64,
    config={"provider": "github", "repository": "octo/pkg", "workflow": "release.yml"},
)


async def _populate(accounts: Accounts, deps: Deps, store: SqlStore) -> int:
    """At the clock's now: sessions and challenges expiring in a minute and in a day, an
    invitation (7 days), a pending publisher (30 days). Returns the invitation's id."""
    alice = await new_user(accounts, "alice", two_factor=True)
    await new_user(accounts, "bob")
    assert isinstance(await create_project(deps, ctx_for(alice), "pkg"), ProjectRecord)
    invitation = await invite(deps, ctx_for(alice), "bob", "maintainer", project="pkg")
    assert isinstance(invitation, InvitationRecord)
    now = deps.now()
    async with store.transaction() as tx:
        for n, ttl in enumerate((timedelta(minutes=1), timedelta(days=1))):
            await tx.add_session(
                f"{n}" * 64,
                alice.id,
                now=now,
                expires_at=now + ttl,
                pending=False,
                ip=None,
                user_agent=None,
            )
            await tx.add_challenge(alice.id, "authentication", bytes([n]) * 32, now, now + ttl)
        await tx.add_pending_publisher(
            "new-pkg", "new-pkg", SPEC, created_by=alice.id, now=now, expires_at=now + 30 * DAY_TD
        )
    return invitation.id


async def test_sweep_removes_what_expired_and_keeps_the_rest(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock
) -> None:
    invitation_id = await _populate(accounts, deps, store)
    assert await sweep(deps) == Swept()
    clock.advance(60)  # the first session and challenge end exactly now
    assert await sweep(deps) == Swept(sessions=1, challenges=1)
    clock.advance(8 * DAY)  # the invitation expired a day ago: kept, to be answered "expired"
    assert await sweep(deps) == Swept(sessions=1, challenges=1)
    async with store.transaction() as tx:
        assert await tx.invitation_by_id(invitation_id) is not None
    clock.advance(INVITATION_GRACE.total_seconds() - DAY)  # 7 + 30 days after it was sent
    assert await sweep(deps) == Swept(invitations=1, pending_publishers=1)
    async with store.transaction() as tx:
        assert await tx.invitation_by_id(invitation_id) is None
    assert await sweep(deps) == Swept()


async def test_an_operator_sweep_is_audited(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock
) -> None:
    await _populate(accounts, deps, store)
    clock.advance(DAY)
    swept = await sweep(deps, Context(actor="operator:root"))
    assert swept == Swept(sessions=2, challenges=2)
    async with store.transaction() as tx:
        [event] = [e for e in await tx.audit_events() if e.event == "operator:sweep"]
    assert (event.actor, dict(event.details)) == (
        "operator:root",
        {
            "sessions": 2,
            "challenges": 2,
            "invitations": 0,
            "pending_publishers": 0,
            "minted_tokens": 0,
            "trust_changes": 0,
            "audit_events": 0,
        },
    )


async def test_audit_events_go_only_past_a_retention_the_operator_set(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock
) -> None:
    await _populate(accounts, deps, store)
    async with store.transaction() as tx:
        kept = len(await tx.audit_events())
    clock.advance(10 * DAY)
    assert (await sweep(deps)).audit_events == 0  # no retention: the trail is kept for ever
    assert (await sweep(deps, audit_retention=timedelta(days=11))).audit_events == 0
    assert (await sweep(deps, audit_retention=timedelta(days=9))).audit_events == kept
    async with store.transaction() as tx:
        assert await tx.audit_events() == []


async def test_minted_token_records_go_a_day_after_they_expire(
    deps: Deps, store: SqlStore, clock: Clock
) -> None:
    now = deps.now()
    record = MintedTokenRecord(
        jti="j1",
        publisher_id=1,
        project="pkg",
        issuer="https://token.actions.githubusercontent.com",
        repository="octo/pkg",
        issued_at=now,
        expires_at=now + timedelta(minutes=15),
    )
    async with store.transaction() as tx:
        await tx.record_minted([record])
    clock.advance(DAY)
    assert (await sweep(deps)).minted_tokens == 0
    clock.advance(15 * 60)
    assert (await sweep(deps)).minted_tokens == 1


async def test_the_sweeper_runs_at_most_once_per_interval(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock
) -> None:
    await _populate(accounts, deps, store)
    sweeper = Sweeper(deps)
    clock.advance(60)
    assert await sweeper.maybe() == Swept(sessions=1, challenges=1)
    clock.advance(SWEEP_EVERY.total_seconds() - 1)
    assert await sweeper.maybe() is None
    clock.advance(1)
    assert await sweeper.maybe() == Swept()


async def _expiring_session(store: SqlStore, deps: Deps, user_id: int, token: str) -> None:
    now = deps.now()
    async with store.transaction() as tx:
        await tx.add_session(
            token,
            user_id,
            now=now,
            expires_at=now + timedelta(minutes=1),
            pending=False,
            ip=None,
            user_agent=None,
        )


async def _exists(store: SqlStore, token: str) -> bool:
    async with store.transaction() as tx:
        return await tx.session_by_hash(token) is not None


async def test_logins_sweep_at_most_every_few_minutes(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock
) -> None:
    carol = await new_user(accounts, "carol")
    sessions = Sessions(deps, timedelta(hours=1))
    await _expiring_session(store, deps, carol.id, "a" * 64)
    clock.advance(60)
    await sessions.start(carol, CTX)  # the first login sweeps
    assert not await _exists(store, "a" * 64)
    await _expiring_session(store, deps, carol.id, "b" * 64)
    clock.advance(120)
    await sessions.start(carol, CTX)  # two minutes later: not due yet
    assert await _exists(store, "b" * 64)
    clock.advance(SWEEP_EVERY.total_seconds())
    await sessions.start(carol, CTX)
    assert not await _exists(store, "b" * 64)
