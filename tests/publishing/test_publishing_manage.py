"""Owners manage a project's trusted publishers: gated by role, 2FA and a fresh proof."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from accounts.accounts_helpers import RecordingNotifier, ctx_for, give_two_factor, new_user
from fakeissuer import Clock
from publishingkit import MINUTE, add_role, owner_of, table

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.publishing import (
    INVALID_PUBLISHER_CONFIG,
    NOT_AN_OWNER,
    PUBLISHER_EXISTS,
    add_publisher,
    list_publishers,
    remove_publisher,
    set_trusted_publishing_only,
)
from service.issuers import Issuers
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord
from service.store.records_publishing import PublisherRecord

pytestmark = pytest.mark.anyio


async def as_maintainer(accounts: Accounts, store: SqlStore, clock: Clock) -> UserRecord:
    bob = await new_user(accounts, "bob", two_factor=True)
    await add_role(store, "sampleproject", bob, "maintainer", accounts.deps.now())
    return bob


async def stale_owner(accounts: Accounts, store: SqlStore, clock: Clock) -> UserRecord:
    alice = await store_user(store, "alice")
    clock.advance(16 * MINUTE)  # past policy.RECENT_WINDOW
    return alice


async def owner_without_2fa(accounts: Accounts, store: SqlStore, clock: Clock) -> UserRecord:
    alice = await store_user(store, "alice")
    async with store.transaction() as tx:
        await tx.set_two_factor_enabled(alice.id, None)
    return alice


async def fresh_owner(accounts: Accounts, store: SqlStore, clock: Clock) -> UserRecord:
    return await store_user(store, "alice")


async def store_user(store: SqlStore, name: str) -> UserRecord:
    async with store.transaction() as tx:
        found = await tx.user_by_name(name)
    assert found is not None
    return found


Who = Callable[[Accounts, SqlStore, Clock], Awaitable[UserRecord]]
Act = Callable[[Deps, Any, Issuers], Awaitable[object]]

ACTIONS: dict[str, Act] = {
    "list": lambda deps, ctx, issuers: list_publishers(deps, ctx, "sampleproject"),
    "add": lambda deps, ctx, issuers: add_publisher(
        deps, ctx, issuers, "sampleproject", table(workflow="other.yml")
    ),
    "remove": lambda deps, ctx, issuers: remove_publisher(deps, ctx, "sampleproject", 1),
    "switch": lambda deps, ctx, issuers: set_trusted_publishing_only(
        deps, ctx, "sampleproject", True
    ),
}
# (who is acting, the refusal code or None for allowed)
GATE: list[tuple[str, Who, str | None]] = [
    ("owner-fresh-2fa", fresh_owner, None),
    ("owner-stale-2fa", stale_owner, "recent-two-factor-required"),
    ("owner-without-2fa", owner_without_2fa, "two-factor-required"),
    ("maintainer", as_maintainer, NOT_AN_OWNER),
]


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize(
    ("who", "expected"), [(w, e) for _, w, e in GATE], ids=[i for i, _, _ in GATE]
)
async def test_publisher_management_is_for_owners_with_a_fresh_second_factor(
    accounts: Accounts,
    store: SqlStore,
    deps: Deps,
    clock: Clock,
    issuers: Issuers,
    action: str,
    who: Who,
    expected: str | None,
) -> None:
    alice = await owner_of(accounts, "sampleproject")
    first = await add_publisher(deps, ctx_for(alice), issuers, "sampleproject", table())
    assert isinstance(first, PublisherRecord)
    actor = await who(accounts, store, clock)

    outcome = await ACTIONS[action](deps, ctx_for(actor), issuers)

    if expected is None:
        assert not isinstance(outcome, Refusal), outcome
    else:
        assert isinstance(outcome, Refusal)
        assert outcome.code == expected
        async with store.transaction() as tx:
            project = await tx.project_by_name("sampleproject")
            assert project is not None
            assert not project.trusted_publishing_only
            assert [p.id for p in await tx.publishers_of(project.id)] == [first.id]


async def test_add_and_remove_are_audited_and_every_owner_is_told(
    accounts: Accounts,
    store: SqlStore,
    deps: Deps,
    issuers: Issuers,
    notices: RecordingNotifier,
) -> None:
    alice = await owner_of(accounts, "sampleproject")
    carol = await new_user(accounts, "carol", two_factor=True)
    await add_role(store, "sampleproject", carol, "owner", deps.now())

    added = await add_publisher(deps, ctx_for(alice), issuers, "SampleProject", table())
    assert isinstance(added, PublisherRecord)
    assert added.project == "sampleproject"
    assert added.spec.lookup_key == "octo-org/sampleproject"
    assert added.spec.config["issuer"] == "https://token.actions.githubusercontent.com"
    listed = await list_publishers(deps, ctx_for(alice), "sampleproject")
    assert listed == [added]
    removed = await remove_publisher(deps, ctx_for(alice), "sampleproject", added.id)
    assert removed == added

    assert notices.events() == [
        ("alice", "publisher-added"),
        ("carol", "publisher-added"),
        ("alice", "publisher-removed"),
        ("carol", "publisher-removed"),
    ]
    async with store.transaction() as tx:
        events = await tx.audit_events(project="sampleproject")
    trail = [(e.event, e.actor, e.details.get("publisher_id")) for e in events]
    assert ("publisher:added", "alice", added.id) in trail
    assert ("publisher:removed", "alice", added.id) in trail


async def test_a_bad_table_is_refused_naming_the_key(
    accounts: Accounts, deps: Deps, issuers: Issuers
) -> None:
    alice = await owner_of(accounts, "sampleproject")
    cases = [
        table(repository_owner_id=None),
        table(provider="nope"),
        table(issuer="https://evil.example"),
        table(refs=["v*"]),
    ]
    for bad in cases:
        bad = {k: v for k, v in bad.items() if v is not None}
        refused = await add_publisher(deps, ctx_for(alice), issuers, "sampleproject", bad)
        assert isinstance(refused, Refusal)
        assert refused.code == INVALID_PUBLISHER_CONFIG


async def test_the_same_publisher_twice_is_refused(
    accounts: Accounts, deps: Deps, issuers: Issuers
) -> None:
    alice = await owner_of(accounts, "sampleproject")
    ctx = ctx_for(alice)
    assert isinstance(
        await add_publisher(deps, ctx, issuers, "sampleproject", table()), PublisherRecord
    )
    # Naming the default issuer explicitly is the same publisher.
    again = await add_publisher(
        deps,
        ctx,
        issuers,
        "sampleproject",
        table(issuer="https://token.actions.githubusercontent.com"),
    )
    assert isinstance(again, Refusal)
    assert again.code == PUBLISHER_EXISTS


async def test_trusted_publishing_only_switch_is_stored_and_audited(
    accounts: Accounts, store: SqlStore, deps: Deps
) -> None:
    alice = await owner_of(accounts, "sampleproject")
    switched = await set_trusted_publishing_only(deps, ctx_for(alice), "sampleproject", True)
    assert not isinstance(switched, Refusal)
    assert switched.trusted_publishing_only
    async with store.transaction() as tx:
        events = await tx.audit_events(project="sampleproject")
    assert [e.details for e in events if e.event == "project:trusted-publishing-only"] == [
        {"on": True}
    ]


async def test_a_user_who_got_2fa_back_may_manage_again(
    accounts: Accounts, store: SqlStore, deps: Deps, issuers: Issuers
) -> None:
    alice = await owner_of(accounts, "sampleproject")
    async with store.transaction() as tx:
        await tx.set_two_factor_enabled(alice.id, None)
    refused = await list_publishers(deps, ctx_for(alice), "sampleproject")
    assert isinstance(refused, Refusal)
    alice = await give_two_factor(accounts, alice)
    assert await list_publishers(deps, ctx_for(alice), "sampleproject") == []
