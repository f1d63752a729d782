"""One origin with the real store: /legacy/ on `mintgate serve` takes the service's own tokens.

A maintainer's API token created here and a token minted here both upload through the
same app, checked with the service's keys and against its database; nothing else is
configured than the backend index. Revoking the API token stops it at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import respx
from accounts.accounts_helpers import ctx_for
from fakeissuer import Clock
from gateway.gatewaykit import PROJECT, REGISTRY, mint, upload
from publishingkit import owner_of

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.tokens import CreatedToken, create_token, revoke_token
from service.apitokens.keys import generate_pem, load_root_key
from service.app import Overrides, create_app
from service.minting.keys import SigningKeys, ephemeral_signing_keys
from service.publishers.base import Refusal
from service.settings import Settings
from service.store import SqlStore

pytestmark = pytest.mark.anyio
DAY = 86400
URL = "https://pypi.example.org"


@asynccontextmanager
async def one_origin(
    store: SqlStore, clock: Clock, keys: SigningKeys, api_key_file: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, respx.Route]]:
    settings = Settings.from_env(
        {
            "MINTGATE_URL": URL,
            "MINTGATE_API_TOKEN_KEY_FILE": str(api_key_file),
            "MINTGATE_GATEWAY_BACKEND_URL": REGISTRY,
        }
    )
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        backend = router.post(REGISTRY).respond(200, text="stored\n")
        async with httpx.AsyncClient() as outgoing:
            seams = Overrides(http_client=outgoing, store=store, clock=clock, signing_keys=keys)
            app = create_app(settings, seams)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url=URL) as client:
                    yield client, backend


async def test_the_services_own_tokens_upload_at_legacy(
    accounts: Accounts, store: SqlStore, deps: Deps, clock: Clock, tmp_path: Path
) -> None:
    api_key_file = tmp_path / "api-token.pem"
    api_key_file.write_bytes(generate_pem())
    root = load_root_key(api_key_file)
    keys = ephemeral_signing_keys()
    alice = await owner_of(accounts, PROJECT)
    api_token = await create_token(deps, ctx_for(alice), root, "ci", [PROJECT], 30 * DAY)
    assert isinstance(api_token, CreatedToken), api_token

    async with one_origin(store, clock, keys, api_key_file) as (client, backend):
        minted = mint(keys, issuer=URL, now=int(clock()))
        assert (await upload(client, minted, path="/legacy/")).status_code == 200
        assert (await upload(client, api_token.token, path="/legacy")).status_code == 200
        foreign = mint(ephemeral_signing_keys(), issuer=URL, now=int(clock()))
        assert (await upload(client, foreign, path="/legacy/")).status_code == 403
        assert backend.call_count == 2

        revoked = await revoke_token(deps, ctx_for(alice), api_token.record.id)
        assert not isinstance(revoked, Refusal)
        refused = await upload(client, api_token.token, path="/legacy/")
        assert refused.status_code == 403
        assert "revoked" in refused.text
        assert backend.call_count == 2
