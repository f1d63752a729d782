"""Every surface that reads text from a request, started in process for the text-field table.

The API runs over the store fixture (SQLite and the real PostgreSQL), the web
pages over SQLite (they add no query of their own), the OAuth and secret
scanning endpoints over the default app, the gateway over a mocked registry.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from api.api_helpers import Api, app_for
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fakeissuer import Clock
from gateway.gatewaykit import JWKS_URL, REGISTRY, SETTINGS, Registry
from store.store_fixtures import database, migrated_database, store
from web.web_helpers import Page

from service.gateway import create_gateway
from service.minting.keys import SigningKeys, ephemeral_signing_keys
from service.settings import SECRET_SCANNING_KEYS_URL
from service.store import SqlStore

__all__ = ["database", "store"]

OAUTH_CLIENT = ("registry", "s3cret-registry-0123456789abcdef")


@pytest.fixture
async def api(store: SqlStore, clock: Clock, tmp_path: Path) -> AsyncIterator[Api]:
    app = app_for(store, clock, tmp_path)
    async with app.router.lifespan_context(app), Api.over(app, clock) as opened:
        yield opened


@pytest.fixture
async def page(clock: Clock, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    async with migrated_database("sqlite", tmp_path, request.config) as db:
        opened_store = await db.migrated_store()
        app = app_for(opened_store, clock, tmp_path)
        async with app.router.lifespan_context(app), Page.over(app, clock) as opened:
            yield opened
        await opened_store.close()


@pytest.fixture
def oauth_auth() -> dict[str, str]:
    """Basic authentication of the one OAuth client `service` knows."""
    pair = base64.b64encode(":".join(OAUTH_CLIENT).encode()).decode()
    return {"Authorization": f"Basic {pair}"}


@pytest.fixture
async def service(make_client: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The token service: mint-token, /oauth/* (one client) and secret scanning."""
    client_id, secret = OAUTH_CLIENT
    clients = tmp_path / "oauth_clients.toml"
    clients.write_text(
        f'[[client]]\nid = "{client_id}"\n'
        f'secret_sha256 = "{hashlib.sha256(secret.encode()).hexdigest()}"\n'
        'scopes = ["introspect", "revoke"]\n',
        encoding="utf-8",
    )
    async with make_client(oauth_clients_file=clients) as client:
        yield client


class GitHubSigner:
    """GitHub's secret-scanning key, its document served by respx."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        public = self.private.public_key()
        der = public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.identifier = hashlib.sha256(der).hexdigest()
        entry = {"key_identifier": self.identifier, "key": pem.decode(), "is_current": True}
        router.get(SECRET_SCANNING_KEYS_URL).respond(json={"public_keys": [entry]})

    def sign(self, body: bytes) -> dict[str, str]:
        signature = self.private.sign(body, ec.ECDSA(hashes.SHA256()))
        return {
            "Github-Public-Key-Identifier": self.identifier,
            "Github-Public-Key-Signature": base64.b64encode(signature).decode(),
            "Content-Type": "application/json",
        }


@pytest.fixture
def issuers_mock() -> Iterator[respx.MockRouter]:
    # Overrides the room-wide fixture: every outgoing request here is mocked or fails.
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def github_signer(issuers_mock: respx.MockRouter) -> GitHubSigner:
    return GitHubSigner(issuers_mock)


@pytest.fixture
def signing() -> SigningKeys:
    return ephemeral_signing_keys()


@pytest.fixture
def registry(issuers_mock: respx.MockRouter, signing: SigningKeys) -> Registry:
    return Registry(
        jwks=issuers_mock.get(JWKS_URL).respond(json=signing.public_jwks()),
        upload=issuers_mock.post(REGISTRY).respond(200, text="stored\n"),
    )


@pytest.fixture
async def gateway(clock: Clock, registry: Registry) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as outgoing:
        app = create_gateway(replace(SETTINGS), client=outgoing, clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as driver:
                yield driver
