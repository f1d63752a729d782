"""No API token for a project that accepts only trusted publishing (issue 21).

Creation refuses a token whose scope names such a project, with the code the gateway
uses for the same rule; a token for all the user's projects may still be made, and the
gateway refuses it (and any narrowing of it) for that project at every upload.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
import respx
from accounts.accounts_helpers import ctx_for, make_accounts, new_user
from fakeissuer import Clock
from gateway.gatewaykit import JWKS_URL, REGISTRY, SETTINGS, form, upload, wheel
from store.store_fixtures import database, store

from service.accounts.accounts import Accounts
from service.accounts.passwords import load_common
from service.accounts.projects import create_project
from service.accounts.publishing import set_trusted_publishing_only
from service.accounts.tokens import CreatedToken, create_token, list_tokens
from service.apitokens.attenuate import attenuate
from service.apitokens.keys import RootKey
from service.apitokens.verify import TRUSTED_PUBLISHING_ONLY
from service.defaults import COMMON_PASSWORDS
from service.gateway import create_gateway
from service.minting.keys import ephemeral_signing_keys
from service.publishers.base import Refusal
from service.store import SqlStore, UserRecord

__all__ = ["database", "store"]
pytestmark = pytest.mark.anyio
DAY = 86400
CLOSED = "closed-project"  # trusted publishing only
OPEN = "open-project"


@pytest.fixture
def accounts(store: SqlStore, clock: Clock) -> Accounts:
    return make_accounts(store, clock, load_common(COMMON_PASSWORDS))


async def owner(accounts: Accounts) -> UserRecord:
    alice = await new_user(accounts, "alice", two_factor=True)
    for name in (CLOSED, OPEN):
        assert not isinstance(await create_project(accounts.deps, ctx_for(alice), name), Refusal)
    switched = await set_trusted_publishing_only(accounts.deps, ctx_for(alice), CLOSED, True)
    assert not isinstance(switched, Refusal), switched
    return alice


@pytest.mark.parametrize(
    "projects",
    [
        pytest.param([CLOSED], id="only-that-project"),
        pytest.param([OPEN, CLOSED], id="among-others"),
        pytest.param(["Closed_Project"], id="spelt-otherwise"),
    ],
)
async def test_a_token_naming_a_trusted_only_project_is_refused_at_creation(
    accounts: Accounts, store: SqlStore, root: RootKey, projects: list[str]
) -> None:
    alice = await owner(accounts)
    refused = await create_token(accounts.deps, ctx_for(alice), root, "ci", projects, 30 * DAY)

    assert isinstance(refused, Refusal)
    assert refused.code == TRUSTED_PUBLISHING_ONLY
    assert CLOSED in refused.description
    assert await list_tokens(accounts.deps, ctx_for(alice)) == []
    async with store.transaction() as tx:
        events = [e.event for e in await tx.audit_events(user_id=alice.id)]
    assert "token:created" not in events


@asynccontextmanager
async def gateway(
    store: SqlStore, root: RootKey, clock: Clock
) -> AsyncIterator[tuple[httpx.AsyncClient, respx.Route]]:
    settings = replace(
        SETTINGS, database_url="sqlite+aiosqlite:///given", api_token_public_key=root.public_text
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


async def _upload(client: httpx.AsyncClient, token: str, project: str) -> httpx.Response:
    return await upload(
        client, token, project=project, fields=form(project), file=wheel(project, "1.0.0")
    )


async def test_an_all_projects_token_does_not_upload_to_a_trusted_only_project(
    accounts: Accounts, store: SqlStore, root: RootKey, clock: Clock
) -> None:
    alice = await owner(accounts)
    token = await create_token(accounts.deps, ctx_for(alice), root, "all", None, 30 * DAY)
    assert isinstance(token, CreatedToken), token
    narrowed = attenuate(token.token, projects=[CLOSED], expires=None)
    async with gateway(store, root, clock) as (client, backend):
        refused = await _upload(client, token.token, CLOSED)
        assert refused.status_code == 403, refused.text
        assert "accepts only trusted publishing" in refused.text
        again = await _upload(client, narrowed, CLOSED)
        assert again.status_code == 403, again.text
        assert "accepts only trusted publishing" in again.text
        assert backend.call_count == 0
        # The same token still uploads where API tokens are allowed.
        assert (await _upload(client, token.token, OPEN)).status_code == 200
        assert backend.call_count == 1
