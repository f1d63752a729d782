"""Real fake issuers: keypairs from `cryptography`, JWKS built from them, served through respx.

Helpers reach the tests through the `kit` fixture: test directories have no
`__init__.py`, so `from conftest import ...` would be ambiguous across rooms.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://token.example.com"
DISCOVERY_URL = ISSUER + "/.well-known/openid-configuration"
JWKS_URL = ISSUER + "/.well-known/jwks"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# Key generation is the slow part of these tests; one set per session is enough.
@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def rsa_key2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_jwk(private: Any, kid: str, **extra: Any) -> dict[str, Any]:
    """The public half of `private` as a JWK dict, the way an issuer publishes it."""
    jwk: dict[str, Any]
    if isinstance(private, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", **extra}


def jwks(*keys: dict[str, Any]) -> bytes:
    return json.dumps({"keys": list(keys)}).encode()


def sign(private: Any, kid: str, alg: str = "RS256") -> str:
    return jwt.encode(
        {"iss": ISSUER, "sub": "repo:octo/pkg"}, private, algorithm=alg, headers={"kid": kid}
    )


def json_response(
    body: bytes | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(
        status, content=content, headers={"Content-Type": "application/json", **(headers or {})}
    )


def responder(
    body: bytes | dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Callable[[httpx.Request], httpx.Response]:
    """A side effect that builds a fresh response per call."""
    return lambda request: json_response(body, status, headers)


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    # assert_all_mocked: any request we did not expect fails the test instead of going out.
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as c:
        yield c


def serve_discovery(
    router: respx.MockRouter, issuer: str = ISSUER, jwks_uri: str = JWKS_URL
) -> respx.Route:
    url = issuer.removesuffix("/") + "/.well-known/openid-configuration"
    return router.get(url).mock(side_effect=responder({"issuer": issuer, "jwks_uri": jwks_uri}))


def serve_jwks(
    router: respx.MockRouter,
    document: bytes,
    url: str = JWKS_URL,
    headers: dict[str, str] | None = None,
) -> respx.Route:
    return router.get(url).mock(side_effect=responder(document, headers=headers))


class Kit:
    ISSUER = ISSUER
    DISCOVERY_URL = DISCOVERY_URL
    JWKS_URL = JWKS_URL
    public_jwk = staticmethod(public_jwk)
    jwks = staticmethod(jwks)
    sign = staticmethod(sign)
    json_response = staticmethod(json_response)
    responder = staticmethod(responder)
    serve_discovery = staticmethod(serve_discovery)
    serve_jwks = staticmethod(serve_jwks)


@pytest.fixture
def kit() -> Kit:
    return Kit()
