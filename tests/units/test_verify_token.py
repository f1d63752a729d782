"""Signature and registered-claim checks, as plain calls with an explicit `now`."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from fakeissuer import AUDIENCE, GITHUB, NOW, FakeIssuer, ec_jwk, ec_key, github_claims

from jwks_cache import Key
from service.issuers import Issuer
from service.oidc.envelope import MAX_TOKEN_BYTES, Envelope, open_envelope
from service.oidc.verify import verify_token
from service.publishers.base import Refusal

ISSUER = Issuer(
    url=GITHUB,
    provider="github",
    algorithms=frozenset({"RS256", "ES256"}),
    audience=AUDIENCE,
    leeway=30,
)


def rsa_key(fake: FakeIssuer, alg: str | None = "RS256") -> Key:
    return Key(kid=fake.kid, key=fake.key.public_key(), kty="RSA", alg=alg)


def opened(token: str, **header: object) -> Envelope:
    """The envelope; with `header`, the same payload and signature under a changed header."""
    if header:
        head, payload, signature = token.split(".")
        changed = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))) | header
        encoded = base64.urlsafe_b64encode(json.dumps(changed).encode()).rstrip(b"=").decode()
        token = ".".join([encoded, payload, signature])
    envelope = open_envelope(token)
    assert isinstance(envelope, Envelope)
    return envelope


def test_valid_token_returns_its_claims() -> None:
    fake = FakeIssuer(GITHUB)
    claims = verify_token(opened(fake.sign(github_claims())), rsa_key(fake), ISSUER, now=NOW)
    assert not isinstance(claims, Refusal)
    assert claims["repository"] == "octo-org/sampleproject"


@pytest.mark.parametrize(
    ("alg", "kty", "key_alg"),
    [
        ("ES256", "RSA", None),  # an EC alg must never be checked against an RSA key
        ("RS256", "EC", None),
        ("RS256", "RSA", "RS512"),  # the JWK pins its own algorithm
        ("HS256", "RSA", None),
        ("none", "RSA", None),
    ],
    ids=["es-on-rsa", "rs-on-ec", "jwk-alg-pinned", "hs256", "none"],
)
def test_algorithm_that_does_not_fit_the_key_is_refused(
    alg: str, kty: str, key_alg: str | None
) -> None:
    fake = FakeIssuer(GITHUB)
    key = Key(kid="key-1", key=fake.key.public_key(), kty=kty, alg=key_alg)
    refusal = verify_token(opened(fake.sign(github_claims()), alg=alg), key, ISSUER, now=NOW)
    assert isinstance(refusal, Refusal)
    assert refusal.code == "invalid-token"
    assert "alg" in refusal.description


def test_es256_issuer_key_verifies_es256_token() -> None:
    private = ec_key()
    jwk = ec_jwk(private, "ec-1")
    key = Key(kid="ec-1", key=jwt.PyJWK(jwk, algorithm="ES256").key, kty="EC", alg=None)
    token = jwt.encode(github_claims(), private, algorithm="ES256", headers={"kid": "ec-1"})
    assert not isinstance(verify_token(opened(token), key, ISSUER, now=NOW), Refusal)


@pytest.mark.parametrize(
    ("now", "changes", "claim"),
    [
        (NOW, {"exp": NOW - 30}, "exp"),  # the leeway boundary is exclusive
        (NOW, {"iat": NOW + 31}, "iat"),
        (NOW, {"nbf": NOW + 31}, "nbf"),
        (NOW, {"iat": True}, "iat"),
        (NOW, {"jti": ""}, "jti"),
        (NOW, {"jti": "x" * 257}, "jti"),
        (NOW, {"jti": 7}, "jti"),
    ],
    ids=[
        "exp-at-leeway",
        "iat-past-leeway",
        "nbf-past-leeway",
        "iat-bool",
        "jti-empty",
        "jti-huge",
        "jti-int",
    ],
)
def test_time_and_jti_claims_are_refused(now: int, changes: dict[str, object], claim: str) -> None:
    fake = FakeIssuer(GITHUB)
    refusal = verify_token(
        opened(fake.sign(github_claims(**changes))), rsa_key(fake), ISSUER, now=now
    )
    assert isinstance(refusal, Refusal)
    assert refusal.description.startswith(claim)


def test_times_inside_the_leeway_are_accepted() -> None:
    fake = FakeIssuer(GITHUB)
    token = fake.sign(github_claims(exp=NOW - 29, iat=NOW + 29, nbf=NOW + 29))
    assert not isinstance(verify_token(opened(token), rsa_key(fake), ISSUER, now=NOW), Refusal)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "x" * (MAX_TOKEN_BYTES + 1),
        "é.é.é",
        "e30.e30.sig",
        "eyJhbGciOiJSUzI1NiJ9.e30.sig",
    ],
    ids=["empty", "two-parts", "four-parts", "oversized", "non-ascii", "no-alg", "no-kid"],
)
def test_malformed_envelope_is_refused_before_any_crypto(token: str) -> None:
    refusal = open_envelope(token)
    assert isinstance(refusal, Refusal)
    assert refusal.code == "invalid-token"
