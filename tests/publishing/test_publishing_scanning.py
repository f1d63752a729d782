"""Secret scanning revokes a leaked API token in the store: signed by us, known to us."""

from __future__ import annotations

import pytest
from accounts.accounts_helpers import RecordingNotifier, ctx_for
from fakeissuer import Clock
from publishingkit import owner_of

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.tokens import CreatedToken, TokenState, create_token
from service.apitokens.issue import ApiTokenGrant, issue
from service.apitokens.keys import RootKey, generate_pem, load_root_key
from service.scanning.revokers import ApiTokenRevoker
from service.store import SqlStore
from service.wiring import store_revoker

pytestmark = pytest.mark.anyio
DAY = 86400


async def leaked(accounts: Accounts, deps: Deps, root: RootKey) -> CreatedToken:
    alice = await owner_of(accounts, "sampleproject")
    token = await create_token(deps, ctx_for(alice), root, "ci", ["sampleproject"], 30 * DAY)
    assert isinstance(token, CreatedToken), token
    return token


async def test_a_reported_api_token_is_revoked_audited_and_its_owner_told(
    accounts: Accounts,
    store: SqlStore,
    deps: Deps,
    root: RootKey,
    clock: Clock,
    notices: RecordingNotifier,
) -> None:
    token = await leaked(accounts, deps, root)
    revoker = ApiTokenRevoker(root.public, store_revoker(deps))
    assert revoker.recognises(token.token)
    revoked = await revoker.revoke(token.token)
    assert revoked is not None
    assert revoked.token_id == token.record.id
    assert await TokenState(store, clock).is_revoked(token.record.id)
    async with store.transaction() as tx:
        events = await tx.audit_events(user_id=token.record.user_id)
    assert ("token:revoked", "secret-scanning:github") in [(e.event, e.actor) for e in events]
    assert ("alice", "token-revoked") in notices.events()
    # Reported again (GitHub redelivers): still ours, still revoked, no error.
    assert await revoker.revoke(token.token) is not None


async def test_tokens_not_ours_are_false_positives_and_nothing_is_revoked(
    accounts: Accounts, store: SqlStore, deps: Deps, root: RootKey, clock: Clock, tmp_path: object
) -> None:
    token = await leaked(accounts, deps, root)
    revoker = ApiTokenRevoker(root.public, store_revoker(deps))
    other_key = tmp_path / "other.pem"  # type: ignore[operator]
    other_key.write_bytes(generate_pem())
    foreign = issue(
        load_root_key(other_key),
        ApiTokenGrant("1", "alice", ["sampleproject"], int(clock.now) + DAY),
        now=int(clock.now),
    )
    # Signed by our key but never issued by this store: not a token we can account for.
    unknown = issue(
        root,
        ApiTokenGrant("1", "alice", ["sampleproject"], int(clock.now) + DAY),
        now=int(clock.now),
    )
    tampered = token.token[:-8] + ("A" if token.token[-8] != "A" else "B") + token.token[-7:]
    for candidate in (foreign.token, unknown.token, tampered, "mgapi_nonsense_AAAAAA"):
        assert await revoker.revoke(candidate) is None
    assert not await TokenState(store, clock).is_revoked(token.record.id)
