"""Removing second-factor methods: fresh confirmation first, never the last one of a maintainer."""

from __future__ import annotations

import pytest
from accounts_helpers import RecordingNotifier, ctx_for, enrol_totp, new_user
from fakeissuer import Clock
from softkey import SoftKey

from service.accounts import totp
from service.accounts.accounts import Accounts, TotpAccepted
from service.accounts.core import Deps
from service.accounts.policy import RECENT_WINDOW
from service.accounts.projects import create_organization, create_project
from service.accounts.security_keys import (
    KeyAdded,
    Options,
    begin_registration,
    finish_registration,
)
from service.accounts.two_factor import Removed, remove_security_key, remove_totp
from service.accounts.webauthn_rp import RelyingParty
from service.publishers.base import Refusal
from service.store import SqlStore

pytestmark = pytest.mark.anyio

RP = RelyingParty(rp_id="localhost", origin="http://localhost:8000")


async def _add_key(deps: Deps, accounts: Accounts, name: str) -> KeyAdded:
    async with accounts.store.transaction() as tx:
        user = await tx.user_by_name(name)
    assert user is not None
    options = await begin_registration(deps, RP, ctx_for(user))
    assert isinstance(options, Options)
    response = SoftKey(RP.origin, RP.rp_id).register(options.json)
    added = await finish_registration(deps, RP, ctx_for(user), "key", response)
    assert isinstance(added, KeyAdded)
    return added


async def test_removal_needs_a_confirmation_within_15_minutes(
    accounts: Accounts, deps: Deps, store: SqlStore, clock: Clock, notices: RecordingNotifier
) -> None:
    alice = await new_user(accounts, "alice")
    secret = await enrol_totp(accounts, clock, alice)  # confirming counts as a fresh proof
    clock.advance(RECENT_WINDOW.total_seconds())  # 15:30 after the proof
    stale = await remove_totp(deps, ctx_for(alice))
    assert isinstance(stale, Refusal)
    assert stale.code == "recent-two-factor-required"
    code = totp.generate(secret, clock())
    assert isinstance(await accounts.verify_totp(alice.id, code, ctx_for(alice)), TotpAccepted)
    clock.advance(RECENT_WINDOW.total_seconds())  # exactly 15:00 later: still in
    assert await remove_totp(deps, ctx_for(alice)) == Removed("authenticator app", 0)
    async with store.transaction() as tx:
        after = await tx.user_by_id(alice.id)
        assert await tx.unused_recovery_codes(alice.id) == 0
        assert await tx.totp_for(alice.id) is None
    assert after is not None
    assert after.two_factor_enabled_at is None
    assert after.last_two_factor_at is None
    assert notices.events()[-1] == ("alice", "two-factor-removed")


@pytest.mark.parametrize("role", ["project", "organization"])
async def test_the_last_method_of_a_maintainer_stays(
    accounts: Accounts, deps: Deps, clock: Clock, role: str
) -> None:
    alice = await new_user(accounts, "alice")
    await enrol_totp(accounts, clock, alice)
    create = create_project if role == "project" else create_organization
    assert not isinstance(await create(deps, ctx_for(alice), "acme"), Refusal)
    last = await remove_totp(deps, ctx_for(alice))
    assert isinstance(last, Refusal)
    assert last.code == "last-two-factor-method"
    assert f"you maintain {role} acme" in last.description
    key = await _add_key(deps, accounts, "alice")
    assert await remove_totp(deps, ctx_for(alice)) == Removed("authenticator app", 1)
    refused = await remove_security_key(deps, ctx_for(alice), key.key.id)
    assert isinstance(refused, Refusal)
    assert refused.code == "last-two-factor-method"


async def test_removing_a_method_that_is_not_there(
    accounts: Accounts, deps: Deps, clock: Clock
) -> None:
    alice = await new_user(accounts, "alice")
    await enrol_totp(accounts, clock, alice)
    bob = await new_user(accounts, "bob")
    bobs = await _add_key(deps, accounts, "bob")
    missing = await remove_security_key(deps, ctx_for(alice), bobs.key.id)
    assert isinstance(missing, Refusal)
    assert missing.code == "no-such-two-factor-method"
    assert await remove_security_key(deps, ctx_for(bob), bobs.key.id) == Removed(
        f"security key {bobs.key.id}", 0
    )
