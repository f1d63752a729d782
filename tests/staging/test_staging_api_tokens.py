"""Uploads made with API tokens are staged too, unless the project says otherwise (issue 21).

A maintainer's API token that leaks is the very thing staging guards against: on a
project whose staging is on, the token's upload waits for a second factor's approval
like a trusted publisher's. `stage_api_tokens` is on by default, for new policies and
(migration 0013) for those that existed before it.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from accounts.accounts_helpers import RecordingNotifier
from fakeissuer import Clock
from gateway.gatewaykit import PROJECT, mint, upload
from stagingkit import KEYS, team
from stagingkit import gateway as staging_gateway
from store.store_fixtures import Database

from service.accounts.accounts import Accounts
from service.accounts.tokens import CreatedToken, create_token
from service.apitokens.keys import RootKey, generate_pem, load_root_key
from service.publishers.base import Refusal
from service.staging.manage import get_staging, set_staging
from service.staging.rules import stages
from service.store import SqlStore, migrate, open_store
from service.store.records_staging import StagingPolicyRecord

pytestmark = pytest.mark.anyio
DAY = 86400


def gateway(
    store: SqlStore, root: RootKey, staging: Path, clock: Clock, notices: RecordingNotifier
) -> AbstractAsyncContextManager[tuple[httpx.AsyncClient, respx.Route]]:
    return staging_gateway(store, staging, clock, notices, api_token_public_key=root.public_text)


@pytest.fixture
def root(tmp_path: Path) -> RootKey:
    path = tmp_path / "api-token-key.pem"
    path.write_bytes(generate_pem())
    return load_root_key(path)


async def test_a_leaked_api_token_upload_is_staged_not_published(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    root: RootKey,
    tmp_path: Path,
    notices: RecordingNotifier,
) -> None:
    people = await team(accounts, store, clock)
    bob = people["bob"]
    token = await create_token(accounts.deps, bob.ctx, root, "laptop", [PROJECT], 30 * DAY)
    assert isinstance(token, CreatedToken), token
    view = await get_staging(accounts.deps, bob.ctx, PROJECT)
    assert not isinstance(view, Refusal)
    assert view.stage_api_tokens

    async with gateway(store, root, tmp_path / "staging", clock, notices) as (client, backend):
        answer = await upload(client, token.token)
        assert answer.status_code == 200, answer.text
        assert answer.text.startswith(f"Staged, not published: {PROJECT} 1.0.0")
        assert backend.call_count == 0
    assert token.token not in answer.text
    async with store.transaction() as tx:
        [release] = await tx.staged_releases([PROJECT], ("staged",))
        events = [e for e in await tx.audit_events(project=PROJECT) if e.event == "staged:file"]
    [staged] = release.files
    assert (staged.subject, staged.jti, staged.publishers) == ("user:bob", token.record.id, ())
    assert dict(staged.provenance) == {"api_token": token.record.id, "user": "bob"}
    assert [e.actor for e in events] == ["user:bob"]
    assert ("alice", "release-staged") in notices.events()


async def test_with_stage_api_tokens_off_the_upload_is_forwarded(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    root: RootKey,
    tmp_path: Path,
    notices: RecordingNotifier,
) -> None:
    people = await team(accounts, store, clock)
    alice = people["alice"]
    token = await create_token(accounts.deps, alice.ctx, root, "ci", [PROJECT], 30 * DAY)
    assert isinstance(token, CreatedToken), token
    off = await set_staging(accounts.deps, alice.ctx, PROJECT, enabled=True, stage_api_tokens=False)
    assert not isinstance(off, Refusal)
    assert not off.stage_api_tokens

    async with gateway(store, root, tmp_path / "staging", clock, notices) as (client, backend):
        answer = await upload(client, token.token)
        assert answer.status_code == 200, answer.text
        assert answer.text == "stored\n"
        assert backend.call_count == 1
        # Trusted publishing is still staged: the option is about tokens only.
        minted = await upload(client, mint(KEYS))
        assert minted.text.startswith("Staged, not published"), minted.text
        assert backend.call_count == 1
    async with store.transaction() as tx:
        events = await tx.audit_events(project=PROJECT)
    [changed] = [e for e in events if e.event == "project:staging" and e.details["enabled"]][-1:]
    assert changed.details["stage_api_tokens"] is False


def _policy(**changes: object) -> StagingPolicyRecord:
    base = StagingPolicyRecord(1, True, False, (), datetime(2026, 12, 4, tzinfo=UTC), None)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("policy", "approved", "expected"),
    [
        pytest.param(_policy(), False, True, id="default-on"),
        pytest.param(_policy(stage_api_tokens=False), False, False, id="off"),
        pytest.param(_policy(enabled=False), False, False, id="staging-off"),
        # The publisher list narrows which publishers are staged; a token is none of them.
        pytest.param(_policy(publishers=("github:octo/x",)), False, True, id="publisher-list"),
        pytest.param(_policy(new_versions_only=True), True, False, id="approved-version"),
        pytest.param(_policy(new_versions_only=True), False, True, id="new-version"),
    ],
)
def test_which_api_token_uploads_are_staged(
    policy: StagingPolicyRecord, approved: bool, expected: bool
) -> None:
    assert stages(policy, (), version_approved=approved, api_token=True) is expected


async def test_policies_older_than_the_option_stage_api_tokens(database: Database) -> None:
    from sqlalchemy import text

    then = datetime(2026, 12, 1, tzinfo=UTC)
    engine = database.engine()
    try:
        await migrate.upgrade(engine)
        await migrate.downgrade(engine, "0012")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO projects (name, normalized_name, created_at,"
                    " two_factor_required) VALUES ('Sample', 'sample', :t, false)"
                ),
                {"t": then},
            )
            await conn.execute(
                text(
                    "INSERT INTO staging_policies (project_id, enabled, new_versions_only,"
                    " publishers, updated_at) SELECT id, true, false, '[]', :t FROM projects"
                ),
                {"t": then},
            )
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    store = await open_store(database.url, **database.options)
    try:
        async with store.transaction() as tx:
            found = await tx.project_by_name("sample")
            assert found is not None
            policy = await tx.staging_policy(found.id)
    finally:
        await store.close()
    assert policy is not None
    assert policy.stage_api_tokens
