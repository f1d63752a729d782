"""What the OAuth tests share, through the `oauth` fixture.

Test directories have no `__init__.py`, so helpers travel as a fixture rather
than `from conftest import ...`. Apps sign with a PEM key on disk, so two app
instances (two replicas) share keys, and tests mint tokens with the same key.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fakeissuer import Clock

from service.minting.keys import SigningKeys, generate_pem, load_signing_keys
from service.minting.tokens import Grant, Minter, unwrap

SERVICE = "http://127.0.0.1:8000"
UPLOAD = "mintgate-upload"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"

# id -> (secret, scopes)
CLIENTS = {
    "registry": ("s3cret-registry-0123456789abcdef", ["introspect", "revoke"]),
    "auditor": ("s3cret-auditor-0123456789abcdef", ["introspect"]),
    "revoker": ("s3cret-revoker-0123456789abcdef", ["revoke"]),
}


def basic(client_id: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


REGISTRY = basic("registry", CLIENTS["registry"][0])


class OAuthKit:
    service = SERVICE
    registry = REGISTRY
    basic = staticmethod(basic)

    def __init__(self, make_client: Any, pem: Path, clients_file: Path, clock: Clock) -> None:
        self._make_client = make_client
        self.pem = pem
        self.clients_file = clients_file
        self.clock = clock
        self.keys: SigningKeys = load_signing_keys([pem])

    @staticmethod
    def auth(client_id: str) -> dict[str, str]:
        return basic(client_id, CLIENTS[client_id][0])

    def app(self, **changes: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        options = {"signing_key_files": (self.pem,), "oauth_clients_file": self.clients_file}
        return self._make_client(**{**options, **changes})  # type: ignore[no-any-return]

    def mint(
        self,
        projects: Iterable[str] = ("sampleproject", "sample-plugin"),
        *,
        keys: SigningKeys | None = None,
        issuer: str = SERVICE,
        audience: str = UPLOAD,
        ttl: int = 900,
    ) -> str:
        minter = Minter(keys or self.keys, issuer=issuer, audience=audience, ttl=ttl)
        grant = Grant(
            subject="github:repo:octo-org/sampleproject:environment:pypi",
            provider="github",
            projects=list(projects),
            publishers=["octo-org/sampleproject/release.yml"],
            provenance={"repository": "octo-org/sampleproject", "sha": "a" * 40},
        )
        return minter.mint(grant, now=int(self.clock.now)).token

    @staticmethod
    def claims(token: str) -> dict[str, Any]:
        body = unwrap(token)
        assert body is not None
        decoded: dict[str, Any] = jwt.decode(body, options={"verify_signature": False})
        return decoded

    async def introspect(
        self, client: httpx.AsyncClient, token: str, auth: dict[str, str] = REGISTRY
    ) -> httpx.Response:
        return await client.post("/oauth/introspect", data={"token": token}, headers=auth)

    async def revoke(
        self, client: httpx.AsyncClient, token: str, auth: dict[str, str] = REGISTRY
    ) -> httpx.Response:
        return await client.post("/oauth/revoke", data={"token": token}, headers=auth)

    async def active(self, client: httpx.AsyncClient, token: str) -> bool:
        response = await self.introspect(client, token)
        assert response.status_code == 200, response.text
        return bool(response.json()["active"])

    async def exchange(
        self, client: httpx.AsyncClient, token: str, **params: str
    ) -> httpx.Response:
        data = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": token,
            "subject_token_type": JWT_TYPE,
            **params,
        }
        return await client.post("/oauth/token", data=data)


@pytest.fixture
def oauth(make_client: Any, tmp_path: Path, clock: Clock) -> OAuthKit:
    pem = tmp_path / "signing.pem"
    pem.write_bytes(generate_pem())
    tables = [
        f'[[client]]\nid = "{cid}"\nsecret_sha256 = "{hashlib.sha256(s.encode()).hexdigest()}"\n'
        f"scopes = {scopes!r}\n".replace("'", '"')
        for cid, (s, scopes) in CLIENTS.items()
    ]
    clients = tmp_path / "oauth_clients.toml"
    clients.write_text("\n".join(tables), encoding="utf-8")
    return OAuthKit(make_client, pem, clients, clock)
