"""Pending publishers: registration, reification by the first exchange, expiry, squatting, races."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from accounts.accounts_helpers import ctx_for, new_user
from fakeissuer import Clock, FakeIssuer, github_claims
from publishingkit import app_over, codes, mint, table

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.pending import (
    PENDING_LIFETIME,
    RATE_LIMITED,
    add_pending_publisher,
    list_pending_publishers,
)
from service.accounts.projects import NAME_TAKEN, create_project
from service.issuers import Issuers
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord
from service.store.records_publishing import PendingPublisherRecord
from service.trust import Trusted
from service.trust.pending import INVALID_PENDING_PUBLISHER
from service.trust.sql import SqlPendingTrust

pytestmark = pytest.mark.anyio

GITHUB = "https://token.actions.githubusercontent.com"
NEW = "octo-org/newproj"


def claims(clock: Clock, repository: str = NEW, **extra: Any) -> dict[str, Any]:
    return github_claims(now=int(clock()), repository=repository, **extra)


async def register(
    accounts: Accounts, deps: Deps, issuers: Issuers, name: str = "bob", repository: str = NEW
) -> tuple[UserRecord, PendingPublisherRecord]:
    user = await new_user(accounts, name, two_factor=True)
    pending = await add_pending_publisher(
        deps, ctx_for(user), issuers, "NewProj", table(repository=repository)
    )
    assert isinstance(pending, PendingPublisherRecord), pending
    return user, pending


async def test_first_exchange_creates_the_project_with_the_registrant_as_owner(
    accounts: Accounts,
    store: SqlStore,
    deps: Deps,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    bob, pending = await register(accounts, deps, issuers)
    assert pending.expires_at - pending.created_at == PENDING_LIFETIME

    async with app_over(store, clock) as client:
        first = await mint(client, github.sign(claims(clock)))
        second = await mint(client, github.sign(claims(clock)))

    assert first.status_code == 200, first.json()
    assert second.status_code == 200, second.json()
    async with store.transaction() as tx:
        project = await tx.project_by_name("newproj")
        assert project is not None
        assert project.name == "NewProj"
        members = await tx.project_members(project.id)
        (publisher,) = await tx.publishers_of(project.id)
        reified = await tx.pending_publisher_by_id(pending.id)
        events = [e.event for e in await tx.audit_events(project="newproj")]
    assert [(m.username, m.role) for m in members] == [("bob", "owner")]
    assert publisher.spec.fingerprint == pending.spec.fingerprint
    assert publisher.created_by_user_id == bob.id
    assert publisher.last_used_at is not None
    assert reified is not None
    assert reified.reified_at is not None
    assert reified.publisher_id == publisher.id
    assert events.count("project:created") == 1
    assert "pending-publisher:reified" in events
    assert events.count("mint") == 2


async def test_an_expired_pending_publisher_creates_nothing(
    accounts: Accounts,
    store: SqlStore,
    deps: Deps,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    await register(accounts, deps, issuers)
    clock.advance(PENDING_LIFETIME.total_seconds() + 1)

    async with app_over(store, clock) as client:
        response = await mint(client, github.sign(claims(clock)))

    assert codes(response) == ["invalid-publisher"]
    async with store.transaction() as tx:
        assert await tx.project_by_name("newproj") is None


async def test_a_name_taken_another_way_invalidates_every_pending_publisher(
    accounts: Accounts,
    store: SqlStore,
    deps: Deps,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    _, pending = await register(accounts, deps, issuers)
    carol = await new_user(accounts, "carol", two_factor=True)
    assert not isinstance(await create_project(deps, ctx_for(carol), "newproj"), Refusal)

    async with app_over(store, clock) as client:
        response = await mint(client, github.sign(claims(clock)))

    assert response.status_code == 422
    assert codes(response) == [INVALID_PENDING_PUBLISHER]
    async with store.transaction() as tx:
        project = await tx.project_by_name("newproj")
        assert project is not None
        assert [m.username for m in await tx.project_members(project.id)] == ["carol"]
        assert await tx.publishers_of(project.id) == []
        voided = await tx.pending_publisher_by_id(pending.id)
        events = [e.event for e in await tx.audit_events(project="newproj")]
    assert voided is not None
    assert voided.invalidated_at is not None
    assert "pending-publisher:invalidated" in events


async def test_registration_is_gated_and_rate_limited(
    accounts: Accounts, deps: Deps, issuers: Issuers
) -> None:
    dave = await new_user(accounts, "dave")
    refused = await add_pending_publisher(deps, ctx_for(dave), issuers, "a", table())
    assert isinstance(refused, Refusal)
    assert refused.code == "two-factor-required"

    bob = await new_user(accounts, "bob", two_factor=True)
    await create_project(deps, ctx_for(bob), "taken")
    taken = await add_pending_publisher(deps, ctx_for(bob), issuers, "Taken", table())
    assert isinstance(taken, Refusal)
    assert taken.code == NAME_TAKEN

    for name in ("one", "two"):
        added = await add_pending_publisher(deps, ctx_for(bob), issuers, name, table(), per_day=2)
        assert isinstance(added, PendingPublisherRecord)
    limited = await add_pending_publisher(deps, ctx_for(bob), issuers, "three", table(), per_day=2)
    assert isinstance(limited, Refusal)
    assert limited.code == RATE_LIMITED
    mine = await list_pending_publishers(deps, ctx_for(bob))
    assert isinstance(mine, list)
    assert [p.normalized_name for p in mine] == ["one", "two"]


async def test_a_trusted_publisher_wins_over_a_pending_one(
    accounts: Accounts,
    store: SqlStore,
    deps: Deps,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    # The same repository already publishes "existing": its pending entry is never consulted.
    await register(accounts, deps, issuers)
    carol = await new_user(accounts, "carol", two_factor=True)
    await create_project(deps, ctx_for(carol), "existing")
    from service.accounts.publishing import add_publisher

    await add_publisher(deps, ctx_for(carol), issuers, "existing", table(repository=NEW))
    async with app_over(store, clock) as client:
        response = await mint(client, github.sign(claims(clock)))
    assert response.status_code == 200
    async with store.transaction() as tx:
        assert await tx.project_by_name("newproj") is None


async def test_racing_exchanges_from_one_publisher_create_one_project(
    accounts: Accounts,
    pg_store: SqlStore,
    deps: Deps,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    # PostgreSQL only: real concurrent connections, not SQLite's serial writers.
    from dataclasses import replace

    deps = replace(deps, store=pg_store)
    accounts.store = pg_store
    accounts.deps = deps
    await register(accounts, deps, issuers)
    trust = SqlPendingTrust(pg_store, issuers, clock)
    (entry,) = await trust.pending_for(GITHUB, NEW.casefold())

    # Both passed the lookup before either reifies: the store alone must settle it.
    outcomes = await asyncio.gather(*(trust.reify(entry, now=int(clock())) for _ in range(4)))

    assert all(isinstance(o, Trusted) for o in outcomes), outcomes
    assert len({o.ref for o in outcomes if isinstance(o, Trusted)}) == 1
    async with app_over(pg_store, clock) as client:
        responses = await asyncio.gather(
            *(mint(client, github.sign(claims(clock))) for _ in range(3))
        )
    assert [r.status_code for r in responses] == [200, 200, 200]
    async with pg_store.transaction() as tx:
        projects = [p.normalized_name for p in await tx.projects()]
    assert projects == ["newproj"]


async def test_racing_pending_publishers_of_two_users_give_the_name_to_one(
    accounts: Accounts,
    pg_store: SqlStore,
    deps: Deps,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    from dataclasses import replace

    deps = replace(deps, store=pg_store)
    accounts.store = pg_store
    accounts.deps = deps
    await register(accounts, deps, issuers, "bob", NEW)
    await register(accounts, deps, issuers, "carol", "octo-org/fork")

    async with app_over(pg_store, clock) as client:
        responses = await asyncio.gather(
            mint(client, github.sign(claims(clock))),
            mint(client, github.sign(claims(clock, repository="octo-org/fork"))),
        )

    outcomes = sorted("minted" if r.status_code == 200 else codes(r)[0] for r in responses)
    assert outcomes == [INVALID_PENDING_PUBLISHER, "minted"]
    async with pg_store.transaction() as tx:
        (project,) = await tx.projects()
        members = await tx.project_members(project.id)
    assert len(members) == 1
    assert members[0].role == "owner"
