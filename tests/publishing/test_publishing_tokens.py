"""API tokens over the store: created once, narrowed offline, verified against real state."""

from __future__ import annotations

from typing import Any

import pytest
from accounts.accounts_helpers import ctx_for, new_user
from fakeissuer import Clock
from publishingkit import MINUTE, owner_of
from sqlalchemy import delete

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.publishing import set_trusted_publishing_only
from service.accounts.tokens import (
    CreatedToken,
    TokenState,
    create_token,
    list_tokens,
    revoke_token,
)
from service.apitokens.attenuate import attenuate
from service.apitokens.keys import RootKey
from service.apitokens.verify import ApiTokenVerifier, VerifiedApiToken
from service.gateway.auth import Authorizer, Credentials
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord
from service.store.models_access import ProjectRole
from service.upload_auth import verify_upload_token
from service.verifier import Verifier

pytestmark = pytest.mark.anyio
DAY = 86400


class NoKeys:
    async def get_key(self, issuer: str, kid: str) -> Any:
        raise AssertionError("an API token never reaches the minted verifier")


def minted_verifier(clock: Clock) -> Verifier:
    return Verifier(NoKeys(), issuer="https://mintgate.example", audience="upload", clock=clock)


def api(root: RootKey, store: SqlStore, clock: Clock) -> ApiTokenVerifier:
    state = TokenState(store, clock)
    return ApiTokenVerifier(root.public, tokens=state, users=state, policy=state, clock=clock)


async def created(
    accounts: Accounts, deps: Deps, root: RootKey, projects: list[str] | None = None
) -> tuple[UserRecord, CreatedToken]:
    alice = await owner_of(accounts, "sampleproject")
    await new_project(accounts, deps, alice, "other")
    token = await create_token(
        deps, ctx_for(alice), root, "ci", projects or ["sampleproject", "other"], 30 * DAY
    )
    assert isinstance(token, CreatedToken), token
    return alice, token


async def new_project(accounts: Accounts, deps: Deps, user: UserRecord, name: str) -> None:
    from service.accounts.projects import create_project

    assert not isinstance(await create_project(deps, ctx_for(user), name), Refusal)


async def test_created_token_is_returned_once_and_only_its_id_is_stored(
    accounts: Accounts, store: SqlStore, deps: Deps, root: RootKey, clock: Clock
) -> None:
    alice, token = await created(accounts, deps, root)

    assert token.token.startswith("mgapi_")
    assert token.token not in repr(token)
    listed = await list_tokens(deps, ctx_for(alice))
    assert listed == [token.record]
    assert token.record.projects == ("other", "sampleproject")
    async with store.transaction() as tx:
        events = await tx.audit_events(user_id=alice.id)
    (event,) = [e for e in events if e.event == "token:created"]
    assert event.details["token_id"] == token.record.id
    assert token.token not in str([e.details for e in events])


async def test_creating_needs_2fa_a_fresh_proof_and_maintained_projects(
    accounts: Accounts, store: SqlStore, deps: Deps, root: RootKey, clock: Clock
) -> None:
    alice = await owner_of(accounts, "sampleproject")
    foreign = await create_token(deps, ctx_for(alice), root, "x", ["someone-else"], DAY)
    assert isinstance(foreign, Refusal)
    assert foreign.code == "not-a-maintainer"
    clock.advance(16 * MINUTE)
    stale = await create_token(deps, ctx_for(alice), root, "x", None, DAY)
    assert isinstance(stale, Refusal)
    assert stale.code == "recent-two-factor-required"
    dave = await new_user(accounts, "dave")
    none = await create_token(deps, ctx_for(dave), root, "x", None, DAY)
    assert isinstance(none, Refusal)
    assert none.code == "two-factor-required"


async def test_attenuated_offline_then_verified_against_the_store(
    accounts: Accounts, store: SqlStore, deps: Deps, root: RootKey, clock: Clock
) -> None:
    _, token = await created(accounts, deps, root)
    narrowed = attenuate(token.token, projects=["other"])
    check = api(root, store, clock)

    verified = await verify_upload_token(
        narrowed, "other", minted=minted_verifier(clock), api=check
    )
    assert isinstance(verified, VerifiedApiToken)
    assert verified.token_id == token.record.id
    out = await verify_upload_token(
        narrowed, "sampleproject", minted=minted_verifier(clock), api=check
    )
    assert isinstance(out, Refusal)
    assert out.code == "project-not-in-scope"


async def revoked(store: SqlStore, deps: Deps, alice: UserRecord, token: CreatedToken) -> None:
    assert not isinstance(await revoke_token(deps, ctx_for(alice), token.record.id), Refusal)


async def lost_2fa(store: SqlStore, deps: Deps, alice: UserRecord, token: CreatedToken) -> None:
    async with store.transaction() as tx:
        await tx.set_two_factor_enabled(alice.id, None)


async def lost_role(store: SqlStore, deps: Deps, alice: UserRecord, token: CreatedToken) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(delete(ProjectRole).where(ProjectRole.user_id == alice.id))


async def publishing_only(
    store: SqlStore, deps: Deps, alice: UserRecord, token: CreatedToken
) -> None:
    assert not isinstance(
        await set_trusted_publishing_only(deps, ctx_for(alice), "sampleproject", True), Refusal
    )


async def forgotten(store: SqlStore, deps: Deps, alice: UserRecord, token: CreatedToken) -> None:
    from service.store.models_publishing import ApiToken

    async with store.engine.begin() as conn:
        await conn.execute(delete(ApiToken))


REASONS = [
    ("revoked", revoked, "token-revoked"),
    ("owner-lost-2fa", lost_2fa, "two-factor-required"),
    ("no-longer-maintainer", lost_role, "not-a-maintainer"),
    ("trusted-publishing-only", publishing_only, "trusted-publishing-only"),
    ("unknown-to-this-database", forgotten, "token-revoked"),
]


@pytest.mark.parametrize(
    ("change", "code"), [(c, k) for _, c, k in REASONS], ids=[r[0] for r in REASONS]
)
async def test_each_change_of_state_refuses_the_token_at_its_next_use(
    accounts: Accounts,
    store: SqlStore,
    deps: Deps,
    root: RootKey,
    clock: Clock,
    change: Any,
    code: str,
) -> None:
    alice, token = await created(accounts, deps, root)
    check = api(root, store, clock)
    assert isinstance(await check.verify(token.token, "sampleproject"), VerifiedApiToken)

    await change(store, deps, alice, token)

    refused = await check.verify(token.token, "sampleproject")
    assert isinstance(refused, Refusal)
    assert refused.code == code


async def test_only_the_holder_or_an_operator_revokes_and_both_are_audited(
    accounts: Accounts, store: SqlStore, deps: Deps, root: RootKey
) -> None:
    alice, token = await created(accounts, deps, root)
    mallory = await new_user(accounts, "mallory", two_factor=True)
    theirs = await revoke_token(deps, ctx_for(mallory), token.record.id)
    assert isinstance(theirs, Refusal)
    assert theirs.code == "no-such-token"
    from service.accounts.core import Context

    done = await revoke_token(deps, Context(actor="operator:root"), token.record.id, operator=True)
    assert not isinstance(done, Refusal)
    assert done.revoked_at is not None
    async with store.transaction() as tx:
        events = await tx.audit_events(user_id=alice.id)
    assert [(e.event, e.actor) for e in events if e.event == "token:revoked"] == [
        ("token:revoked", "operator:root")
    ]


async def test_the_gateway_authorizer_accepts_an_api_token_and_audits_its_use(
    accounts: Accounts, store: SqlStore, deps: Deps, root: RootKey, clock: Clock
) -> None:
    _alice, token = await created(accounts, deps, root)
    state = TokenState(store, clock)
    authorizer = Authorizer(
        minted_verifier(clock),
        revocations=None,
        policy=state,
        api=api(root, store, clock),
        usage=state,
    )

    verified = await authorizer.authorize(
        Credentials("__token__", token.token), "sampleproject", ip="192.0.2.7"
    )

    assert isinstance(verified, VerifiedApiToken)
    async with store.transaction() as tx:
        record = await tx.api_token_by_id(token.record.id)
        events = await tx.audit_events(project="sampleproject")
    assert record is not None
    assert record.last_used_at is not None
    (used,) = [e for e in events if e.event == "token:used"]
    assert used.actor == "user:alice"
    assert used.ip == "192.0.2.7"
    assert used.details["token_id"] == token.record.id
    # And without an API verifier configured, the gateway stays minted-only.
    offline = Authorizer(minted_verifier(clock), revocations=None, policy=state)
    denied = await offline.authorize(Credentials("__token__", token.token), "sampleproject")
    assert not isinstance(denied, VerifiedApiToken)
