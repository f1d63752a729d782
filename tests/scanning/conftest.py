"""What the secret-scanning tests share, through the `scan` fixture.

GitHub is faked for real: a P-256 key pair from `cryptography`, its public
key served in GitHub's document shape by respx, request bodies signed with
it. Apps sign with a PEM key on disk, so two app instances (two replicas)
share keys, and tests mint tokens with the same key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fakeissuer import Clock
from starlette.applications import Starlette

from service.app import Overrides, create_app
from service.minting.keys import SigningKeys, generate_pem, load_signing_keys
from service.minting.tokens import Grant, Minter
from service.revocation import MemoryRevocationStore
from service.settings import Settings

DATA = Path(__file__).parent.parent / "data"
KEYS_URL = "https://api.github.com/meta/public_keys/secret_scanning"
ENDPOINT = "/_/secret-scanning/github"
SERVICE = "http://127.0.0.1:8000"
TYPE = "mintgate_upload_token"
SOURCE_URL = "https://github.com/octo-org/leaky/blob/0123abc/ci/.pypirc"


class GitHubKey:
    """One of GitHub's secret-scanning signing keys."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.identifier = hashlib.sha256(der).hexdigest()

    def entry(self, *, is_current: bool = True) -> dict[str, Any]:
        pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {"key_identifier": self.identifier, "key": pem.decode(), "is_current": is_current}

    def sign(self, body: bytes) -> dict[str, str]:
        signature = self.private.sign(body, ec.ECDSA(hashes.SHA256()))
        return {
            "Github-Public-Key-Identifier": self.identifier,
            "Github-Public-Key-Signature": base64.b64encode(signature).decode(),
        }


class RecordingRevocations(MemoryRevocationStore):
    """The in-process store, remembering which ids were revoked, to assert "nothing"."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.revoked: list[tuple[str, int]] = []

    async def revoke(self, token_id: str, *, until: int) -> None:
        self.revoked.append((token_id, until))
        await super().revoke(token_id, until=until)


def document(*keys: GitHubKey) -> dict[str, Any]:
    return {"public_keys": [key.entry() for key in keys]}


def body(*tokens: str, url: str = SOURCE_URL) -> bytes:
    matches = [{"token": t, "type": TYPE, "url": url, "source": "content"} for t in tokens]
    return json.dumps(matches).encode()


@dataclass
class ScanKit:
    clock: Clock
    pem: Path
    router: respx.MockRouter
    github: GitHubKey = field(default_factory=GitHubKey)
    revocations: RecordingRevocations = field(init=False)
    keys_url = KEYS_URL
    type = TYPE
    source_url = SOURCE_URL
    body = staticmethod(body)
    document = staticmethod(document)
    new_key = staticmethod(GitHubKey)

    def __post_init__(self) -> None:
        self.keys: SigningKeys = load_signing_keys([self.pem])
        self.revocations = RecordingRevocations(self.clock)
        self.keys_route = self.router.get(KEYS_URL)
        self.serve(self.github)

    def serve(self, *keys: GitHubKey) -> None:
        self.keys_route.respond(json=document(*keys))

    def settings(self, **changes: Any) -> Settings:
        return Settings(
            issuers_file=DATA / "issuers.toml",
            publishers_file=DATA / "publishers.toml",
            signing_key_files=(self.pem,),
            **changes,
        )

    @asynccontextmanager
    async def app(
        self, *, redis: Any = None, **changes: Any
    ) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient]]:
        """An app and a client driving it; in-process revocations unless `redis` is given."""
        revocations = None if redis is not None else self.revocations
        overrides = Overrides(redis=redis, clock=self.clock, revocations=revocations)
        app = create_app(self.settings(**changes), overrides)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                yield app, client

    def mint(self, *, ttl: int = 900, age: int = 0, keys: SigningKeys | None = None) -> str:
        minter = Minter(keys or self.keys, issuer=SERVICE, audience="mintgate-upload", ttl=ttl)
        grant = Grant(
            subject="github:repo:octo-org/sampleproject:environment:pypi",
            provider="github",
            projects=["sampleproject"],
            publishers=["octo-org/sampleproject/release.yml"],
            provenance={"repository": "octo-org/sampleproject"},
        )
        return minter.mint(grant, now=int(self.clock.now) - age).token

    async def report(
        self,
        client: httpx.AsyncClient,
        payload: bytes,
        *,
        headers: dict[str, str] | None = None,
        signer: GitHubKey | None = None,
    ) -> httpx.Response:
        signed = (signer or self.github).sign(payload) if headers is None else headers
        return await client.post(
            ENDPOINT, content=payload, headers={**signed, "Content-Type": "application/json"}
        )


@pytest.fixture
def scan(clock: Clock, tmp_path: Path) -> Iterator[ScanKit]:
    pem = tmp_path / "signing.pem"
    pem.write_bytes(generate_pem())
    # Every outgoing request is mocked; one not routed here fails the test.
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        yield ScanKit(clock, pem, router)
