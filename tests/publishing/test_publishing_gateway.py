"""The upload gateway with the real store: an API token uploads until its state says no.

The backend receives the file only while every check holds; after the project
switches to trusted publishing only, or the token is revoked, it receives nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
import respx
from accounts.accounts_helpers import ctx_for
from fakeissuer import Clock
from gateway.gatewaykit import JWKS_URL, PROJECT, REGISTRY, SETTINGS, upload
from publishingkit import owner_of

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.publishing import set_trusted_publishing_only
from service.accounts.tokens import CreatedToken, create_token, revoke_token
from service.apitokens.keys import RootKey
from service.gateway import create_gateway
from service.minting.keys import ephemeral_signing_keys
from service.publishers.base import Refusal
from service.store import SqlStore

pytestmark = pytest.mark.anyio
DAY = 86400


@asynccontextmanager
async def gateway(
    store: SqlStore, root: RootKey, clock: Clock
) -> AsyncIterator[tuple[httpx.AsyncClient, respx.Route]]:
    settings = replace(
        SETTINGS,
        database_url="sqlite+aiosqlite:///unused-the-store-is-given",
        api_token_public_key=root.public_text,
    )
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.get(JWKS_URL).respond(json=ephemeral_signing_keys().public_jwks())
        backend = router.post(REGISTRY).respond(200, text="stored\n")
        async with httpx.AsyncClient() as outgoing:
            app = create_gateway(settings, client=outgoing, clock=clock, store=store)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://gw") as driver:
                    yield driver, backend


async def test_api_token_uploads_until_trusted_only_or_revoked_and_then_nothing_is_forwarded(
    accounts: Accounts, store: SqlStore, deps: Deps, root: RootKey, clock: Clock
) -> None:
    alice = await owner_of(accounts, PROJECT)
    token = await create_token(deps, ctx_for(alice), root, "ci", [PROJECT], 30 * DAY)
    assert isinstance(token, CreatedToken), token
    async with gateway(store, root, clock) as (client, backend):
        assert (await upload(client, token.token)).status_code == 200
        assert backend.call_count == 1

        switched = await set_trusted_publishing_only(deps, ctx_for(alice), PROJECT, True)
        assert not isinstance(switched, Refusal)
        refused = await upload(client, token.token)
        assert refused.status_code == 403
        assert "only trusted publishing" in refused.text
        assert backend.call_count == 1

        assert not isinstance(
            await set_trusted_publishing_only(deps, ctx_for(alice), PROJECT, False), Refusal
        )
        assert not isinstance(await revoke_token(deps, ctx_for(alice), token.record.id), Refusal)
        revoked = await upload(client, token.token)
        assert revoked.status_code == 403
        assert "revoked" in revoked.text
        assert backend.call_count == 1
