"""Incident response (issue 21): frozen publishers, revoked mints, stage-only, project states.

The real app mints from the database; its recorder logs each token, so a freeze
revokes exactly what the publisher minted. Attackers: a maintainer who is not an
owner, an owner whose second-factor proof is stale, another project's id.
"""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from accounts.accounts_helpers import ctx_for, new_user
from fakeissuer import Clock, FakeIssuer, github_claims
from publishingkit import MINUTE, add_role, app_over, caught_up, codes, mint, owner_of, table

from service.accounts.accounts import Accounts
from service.accounts.core import Context, Deps
from service.accounts.incident import (
    Frozen,
    Window,
    freeze_publisher,
    operator_freeze,
    revoke_minted,
    set_stage_only,
    unfreeze_publisher,
)
from service.accounts.project_state import operator_set_project_state, set_project_state
from service.accounts.publishing import add_publisher
from service.issuers import Issuers
from service.publishers.base import Refusal
from service.revocation import MemoryRevocationStore, RevocationUnavailable
from service.store import SqlStore
from service.store.records_publishing import PublisherRecord
from service.trust.sql import SqlTrustStore

pytestmark = pytest.mark.anyio
PROJECT = "sampleproject"
OPERATOR = Context(actor="operator:test")


async def trusted(
    accounts: Accounts, deps: Deps, issuers: Issuers, project: str = PROJECT, **changes: Any
) -> tuple[Any, PublisherRecord]:
    owner = await owner_of(accounts, project, name=f"owner-{project}")
    added = await add_publisher(deps, ctx_for(owner), issuers, project, table(**changes))
    assert isinstance(added, PublisherRecord), added
    return owner, added


def claims_of(response: httpx.Response) -> dict[str, Any]:
    token = response.json()["token"]
    body = token.removeprefix("mintgate_").rpartition("_")[0]
    decoded: dict[str, Any] = jwt.decode(body, options={"verify_signature": False})
    return decoded


async def test_frozen_publisher_mints_nothing_and_its_tokens_are_revoked(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    owner, publisher = await trusted(accounts, deps, issuers)
    revocations = MemoryRevocationStore(clock=clock)
    async with app_over(store, clock) as client:
        before = [await mint(client, github.sign(github_claims())) for _ in range(2)]
        assert [r.status_code for r in before] == [200, 200]
        frozen = await freeze_publisher(deps, ctx_for(owner), revocations, PROJECT, publisher.id)
        assert isinstance(frozen, Frozen), frozen
        await caught_up(client)
        after = await mint(client, github.sign(github_claims()))

    assert frozen.revoked == 2
    assert frozen.changed
    assert frozen.publisher.frozen_at is not None
    for response in before:
        assert await revocations.is_revoked(claims_of(response)["jti"])
    assert after.status_code == 422
    assert codes(after) == ["publisher-frozen"]
    async with store.transaction() as tx:
        events = await tx.audit_events(project=PROJECT)
    (event,) = [e for e in events if e.event == "publisher:frozen"]
    assert event.details["revoked"] == 2
    assert event.details["publisher_id"] == publisher.id


async def test_unfreezing_mints_again_and_never_unrevokes(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    owner, publisher = await trusted(accounts, deps, issuers)
    revocations = MemoryRevocationStore(clock=clock)
    async with app_over(store, clock) as client:
        old = claims_of(await mint(client, github.sign(github_claims())))["jti"]
        frozen = await freeze_publisher(deps, ctx_for(owner), revocations, PROJECT, publisher.id)
        assert isinstance(frozen, Frozen)
        thawed = await unfreeze_publisher(deps, ctx_for(owner), PROJECT, publisher.id)
        again = await mint(client, github.sign(github_claims()))
    assert isinstance(thawed, PublisherRecord)
    assert thawed.frozen_at is None
    assert again.status_code == 200, again.json()
    assert await revocations.is_revoked(old)
    assert not await revocations.is_revoked(claims_of(again)["jti"])


async def test_another_projects_entry_for_the_same_repository_is_unaffected(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    owner, publisher = await trusted(accounts, deps, issuers)
    await trusted(accounts, deps, issuers, "sample-plugin")
    frozen = await freeze_publisher(
        deps, ctx_for(owner), MemoryRevocationStore(clock=clock), PROJECT, publisher.id
    )
    assert isinstance(frozen, Frozen)
    async with app_over(store, clock) as client:
        response = await mint(client, github.sign(github_claims()))
    assert response.status_code == 200, response.json()
    assert claims_of(response)["projects"] == ["sample-plugin"]
    # The trust store never hands out the frozen entry, whoever asks.
    found = await SqlTrustStore(store, issuers).publishers_for(
        "https://token.actions.githubusercontent.com", "octo-org/sampleproject"
    )
    assert [t.project for t in found] == ["sample-plugin"]


ATTACKS = [
    pytest.param("maintainer", "not-an-owner", id="maintainer-not-owner"),
    pytest.param("stale", "recent-two-factor-required", id="stale-second-factor"),
    pytest.param("other-owner", "no-such-publisher", id="owner-of-another-project"),
]


@pytest.mark.parametrize(("who", "code"), ATTACKS)
async def test_who_may_not_freeze_unfreeze_or_change_state(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    clock: Clock,
    who: str,
    code: str,
) -> None:
    owner, publisher = await trusted(accounts, deps, issuers)
    revocations = MemoryRevocationStore(clock=clock)
    if who == "maintainer":
        actor = await new_user(accounts, "mallory", two_factor=True)
        await add_role(store, PROJECT, actor, "maintainer", deps.now())
        project = PROJECT
    elif who == "stale":
        actor, project = owner, PROJECT
        clock.advance(16 * MINUTE)
    else:
        actor, _ = await trusted(accounts, deps, issuers, "other")
        project = "other"
    ctx = ctx_for(actor)
    results = [
        await freeze_publisher(deps, ctx, revocations, project, publisher.id),
        await unfreeze_publisher(deps, ctx, project, publisher.id),
        await set_stage_only(deps, ctx, project, publisher.id, True),
    ]
    if who != "other-owner":
        results.append(await set_project_state(deps, ctx, project, "archived"))
    for result in results:
        assert isinstance(result, Refusal), result
        assert result.code == code
    async with store.transaction() as tx:
        found = await tx.project_by_name(PROJECT)
        assert found is not None
        (stored,) = await tx.publishers_of(found.id)
    assert found.state == "active"
    assert stored.frozen_at is None
    assert not stored.stage_only


class _Down:
    async def revoke(self, token_id: str, *, until: int) -> None:
        raise RevocationUnavailable("down")

    async def is_revoked(self, token_id: str) -> bool:
        raise RevocationUnavailable("down")


async def test_a_revocation_store_that_cannot_answer_rolls_the_freeze_back(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    owner, publisher = await trusted(accounts, deps, issuers)
    async with app_over(store, clock) as client:
        assert (await mint(client, github.sign(github_claims()))).status_code == 200
    refused = await freeze_publisher(deps, ctx_for(owner), _Down(), PROJECT, publisher.id)
    assert isinstance(refused, Refusal)
    assert refused.code == "service-unavailable"
    async with store.transaction() as tx:
        found = await tx.publisher_by_id(publisher.id)
        events = await tx.audit_events(project=PROJECT)
    assert found is not None
    assert found.frozen_at is None
    assert not [e for e in events if e.event == "publisher:frozen"]


async def test_operator_revokes_by_repository_within_a_window(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    await trusted(accounts, deps, issuers)
    revocations = MemoryRevocationStore(clock=clock)
    async with app_over(store, clock) as client:
        early = claims_of(await mint(client, github.sign(github_claims())))
        clock.advance(60)
        late = claims_of(await mint(client, github.sign(github_claims(now=int(clock())))))
    start = deps.now().replace(microsecond=0)
    revoked = await revoke_minted(
        deps, OPERATOR, revocations, repository="Octo-Org/SampleProject", window=Window(since=start)
    )
    assert revoked == 1
    assert await revocations.is_revoked(late["jti"])
    assert not await revocations.is_revoked(early["jti"])
    assert await revoke_minted(deps, OPERATOR, revocations) == Refusal(
        "invalid-payload", "name a publisher or a repository"
    )
    backwards = Window(since=start, until=start.replace(year=2000))
    refused = await revoke_minted(deps, OPERATOR, revocations, publisher_id=1, window=backwards)
    assert isinstance(refused, Refusal)
    assert refused.code == "invalid-payload"
    async with store.transaction() as tx:
        events = await tx.audit_events(project=None)
    assert any(e.event == "tokens:revoked-minted" and e.details["revoked"] == 1 for e in events)


async def test_operator_freezes_any_publisher_by_id(
    accounts: Accounts, deps: Deps, store: SqlStore, issuers: Issuers, clock: Clock
) -> None:
    _, publisher = await trusted(accounts, deps, issuers)
    frozen = await operator_freeze(deps, OPERATOR, MemoryRevocationStore(clock=clock), publisher.id)
    assert isinstance(frozen, Frozen)
    assert frozen.publisher.frozen_at is not None
    missing = await operator_freeze(deps, OPERATOR, MemoryRevocationStore(clock=clock), 999)
    assert isinstance(missing, Refusal)
    assert missing.code == "no-such-publisher"


async def test_stage_only_publisher_mints_tokens_that_say_so(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    owner, publisher = await trusted(accounts, deps, issuers)
    await trusted(accounts, deps, issuers, "sample-plugin")
    async with app_over(store, clock) as client:
        plain = claims_of(await mint(client, github.sign(github_claims())))
        changed = await set_stage_only(deps, ctx_for(owner), PROJECT, publisher.id, True)
        assert isinstance(changed, PublisherRecord)
        assert changed.stage_only
        await caught_up(client)
        staged = claims_of(await mint(client, github.sign(github_claims())))
    assert "stage_only" not in plain
    assert staged["stage_only"] == [PROJECT]
    assert staged["projects"] == ["sample-plugin", PROJECT]


STATES = [
    pytest.param("archived", "project-archived", id="archived-alone-refused"),
    pytest.param("quarantined", "project-quarantined", id="quarantined-refused"),
]


@pytest.mark.parametrize(("state", "code"), STATES)
async def test_project_states_hold_at_the_exchange(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
    state: str,
    code: str,
) -> None:
    owner, _ = await trusted(accounts, deps, issuers)
    moved = await set_project_state(deps, ctx_for(owner), PROJECT, state)
    assert not isinstance(moved, Refusal)
    assert moved.state == state
    async with app_over(store, clock) as client:
        response = await mint(client, github.sign(github_claims()))
    assert response.status_code == 422
    assert codes(response) == [code]


async def test_an_archived_project_leaves_the_grant_and_a_quarantined_one_refuses_it(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
) -> None:
    await trusted(accounts, deps, issuers)
    await trusted(accounts, deps, issuers, "sample-plugin")
    assert not isinstance(
        await operator_set_project_state(deps, OPERATOR, PROJECT, "archived"), Refusal
    )
    async with app_over(store, clock) as client:
        kept = await mint(client, github.sign(github_claims()))
        await operator_set_project_state(deps, OPERATOR, "sample-plugin", "quarantined")
        await caught_up(client)
        refused = await mint(client, github.sign(github_claims()))
    assert claims_of(kept)["projects"] == ["sample-plugin"]
    assert codes(refused) == ["project-quarantined"]


@pytest.mark.parametrize("state", [None, "", "ARCHIVED", "deleted", 1, ["archived"]], ids=repr)
async def test_an_unknown_state_is_refused_with_a_code(
    accounts: Accounts, deps: Deps, issuers: Issuers, state: Any
) -> None:
    owner, _ = await trusted(accounts, deps, issuers)
    refused = await set_project_state(deps, ctx_for(owner), PROJECT, state)
    assert isinstance(refused, Refusal)
    assert refused.code == "invalid-project-state"
