"""Incident response at the upload gateway, over real Redis and the real store.

A token minted by the real app before a freeze is refused by the gateway after it,
because both read the same revocation store. Archived projects take no uploads;
quarantined ones take maintainers' API tokens but no minted tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from accounts.accounts_helpers import ctx_for
from fakeissuer import Clock, FakeIssuer, github_claims
from gateway.gatewaykit import PROJECT, REGISTRY, SETTINGS, upload
from publishingkit import mint, owner_of, settings, table
from testredis import REDIS_URL

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.incident import Frozen, freeze_publisher, set_stage_only
from service.accounts.project_state import set_project_state
from service.accounts.publishing import add_publisher
from service.accounts.tokens import CreatedToken, create_token
from service.apitokens.keys import RootKey
from service.app import Overrides, create_app
from service.gateway import create_gateway
from service.issuers import Issuers
from service.publishers.base import Refusal
from service.revocation import RedisRevocationStore
from service.store import SqlStore
from service.store.records_publishing import PublisherRecord

pytestmark = pytest.mark.anyio
DAY = 86400


@asynccontextmanager
async def mintgate(
    store: SqlStore, clock: Clock, redis: aioredis.Redis
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    app = create_app(settings(), Overrides(store=store, clock=clock, redis=redis))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, app.state.public_jwks


@asynccontextmanager
async def gateway(
    router: Any, store: SqlStore, clock: Clock, jwks: dict[str, Any], root: RootKey
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The gateway over the same store and Redis; `router` (respx) serves the JWKS and registry."""
    router.get(f"{settings().url}/.well-known/jwks.json").respond(json=jwks)
    backend = router.post(REGISTRY).respond(200, text="stored\n")
    gw_settings = replace(
        SETTINGS,
        mintgate_url=settings().url,
        allow_loopback_http=True,
        redis_url=REDIS_URL,
        database_url="sqlite+aiosqlite:///unused-the-store-is-given",
        api_token_public_key=root.public_text,
    )
    async with httpx.AsyncClient() as outgoing:
        app = create_gateway(gw_settings, client=outgoing, clock=clock, store=store)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as driver:
                yield driver, backend


async def trusted(accounts: Accounts, deps: Deps, issuers: Issuers) -> tuple[Any, PublisherRecord]:
    owner = await owner_of(accounts, PROJECT)
    added = await add_publisher(deps, ctx_for(owner), issuers, PROJECT, table())
    assert isinstance(added, PublisherRecord), added
    return owner, added


async def test_a_token_minted_before_the_freeze_is_refused_by_the_gateway_after_it(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
    redis: aioredis.Redis,
    root: RootKey,
) -> None:
    owner, publisher = await trusted(accounts, deps, issuers)
    async with mintgate(store, clock, redis) as (service, jwks):
        minted = await mint(service, github.sign(github_claims()))
        assert minted.status_code == 200, minted.json()
        token = minted.json()["token"]
        async with gateway(issuers_mock, store, clock, jwks, root) as (client, backend):
            assert (await upload(client, token)).status_code == 200
            # The owner's freeze goes through the revocation store the gateway reads.
            frozen = await freeze_publisher(
                deps, ctx_for(owner), RedisRevocationStore(redis), PROJECT, publisher.id
            )
            assert isinstance(frozen, Frozen)
            assert frozen.revoked == 1
            refused = await upload(client, token)
    assert refused.status_code == 403
    assert "revoked" in refused.text
    assert backend.call_count == 1


async def test_archived_refuses_everything_quarantined_refuses_only_minted_tokens(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
    redis: aioredis.Redis,
    root: RootKey,
) -> None:
    owner, _ = await trusted(accounts, deps, issuers)
    api = await create_token(deps, ctx_for(owner), root, "ci", [PROJECT], 30 * DAY)
    assert isinstance(api, CreatedToken), api
    async with mintgate(store, clock, redis) as (service, jwks):
        token = (await mint(service, github.sign(github_claims()))).json()["token"]
        async with gateway(issuers_mock, store, clock, jwks, root) as (client, backend):
            assert not isinstance(
                await set_project_state(deps, ctx_for(owner), PROJECT, "quarantined"), Refusal
            )
            quarantined_minted = await upload(client, token)
            quarantined_api = await upload(client, api.token)
            assert not isinstance(
                await set_project_state(deps, ctx_for(owner), PROJECT, "archived"), Refusal
            )
            archived_minted = await upload(client, token)
            archived_api = await upload(client, api.token)
    assert quarantined_minted.status_code == 403
    assert "(project-quarantined)" in quarantined_minted.text
    assert quarantined_api.status_code == 200
    assert archived_minted.status_code == 403
    assert "(project-archived)" in archived_minted.text
    assert archived_api.status_code == 403
    assert "(project-archived)" in archived_api.text
    assert backend.call_count == 1


async def test_a_stage_only_token_is_never_forwarded_by_a_gateway_that_cannot_stage(
    accounts: Accounts,
    deps: Deps,
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
    redis: aioredis.Redis,
    root: RootKey,
) -> None:
    owner, publisher = await trusted(accounts, deps, issuers)
    changed = await set_stage_only(deps, ctx_for(owner), PROJECT, publisher.id, True)
    assert isinstance(changed, PublisherRecord)
    async with mintgate(store, clock, redis) as (service, jwks):
        token = (await mint(service, github.sign(github_claims()))).json()["token"]
        async with gateway(issuers_mock, store, clock, jwks, root) as (client, backend):
            refused = await upload(client, token)
    assert refused.status_code == 403
    assert "(publisher-stage-only)" in refused.text
    assert backend.call_count == 0
