"""Fake OIDC issuers that are real: a keypair, a JWKS document, tokens signed with it."""

from __future__ import annotations

import functools
import json
import uuid
from typing import Any

import jwt
import respx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

GITHUB = "https://token.actions.githubusercontent.com"
GITLAB = "https://gitlab.com"
AUDIENCE = "mintgate"
NOW = 1_800_000_000


class Clock:
    """An injected clock: tests move time instead of sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    # Cached per name: 2048-bit generation is the slowest thing in these tests.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeIssuer:
    def __init__(self, url: str, *, kid: str = "key-1", key_name: str | None = None) -> None:
        self.url = url
        self.kid = kid
        self.key = rsa_key(key_name or url)

    def jwk(self, kid: str | None = None) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**jwk, "kid": kid or self.kid, "use": "sig", "alg": "RS256"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = None,
        headers: dict[str, Any] | None = None,
        key: Any = None,
        alg: str = "RS256",
    ) -> str:
        head = {"kid": kid or self.kid, **(headers or {})}
        return jwt.encode(claims, key or self.key, algorithm=alg, headers=head)

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/.well-known/jwks"

    def mock(self, router: respx.MockRouter) -> respx.Route:
        """Serve discovery and the JWKS; returns the JWKS route so tests can count calls."""
        router.get(f"{self.url}/.well-known/openid-configuration").respond(
            json={"issuer": self.url, "jwks_uri": self.jwks_uri}
        )
        return router.get(self.jwks_uri).respond(json=self.jwks())


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid}


def github_claims(
    *,
    now: int = NOW,
    repository: str = "octo-org/sampleproject",
    owner_id: str = "1234567",
    workflow: str = "release.yml",
    ref: str = "refs/tags/v1.0.0",
    environment: str | None = "pypi",
    event: str = "push",
    issuer: str = GITHUB,
    **extra: Any,
) -> dict[str, Any]:
    owner = repository.split("/")[0]
    workflow_ref = f"{repository}/.github/workflows/{workflow}@{ref}"
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": f"repo:{repository}:environment:{environment}",
        "jti": str(uuid.uuid4()),
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 300,
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": owner_id,
        "repository_id": "99999",
        "workflow_ref": workflow_ref,
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": "a" * 40,
        "workflow_sha": "a" * 40,
        "event_name": event,
        "ref": ref,
        "ref_type": "tag",
        "sha": "a" * 40,
        "run_id": "1234",
        "run_attempt": "1",
        "actor": "octocat",
    }
    if environment is not None:
        claims["environment"] = environment
    claims.update(extra)
    return claims


def gitlab_claims(
    *,
    now: int = NOW,
    project_path: str = "octo-group/sampleproject",
    ci_config_file: str = ".gitlab-ci.yml",
    ref_path: str = "refs/tags/v1.0.0",
    environment: str | None = "release",
    **extra: Any,
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": GITLAB,
        "aud": AUDIENCE,
        "sub": f"project_path:{project_path}:ref_type:tag:ref:v1.0.0",
        "jti": str(uuid.uuid4()),
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 300,
        "namespace_id": "42",
        "namespace_path": project_path.split("/")[0],
        "project_id": "4242",
        "project_path": project_path,
        "ci_config_ref_uri": f"gitlab.com/{project_path}//{ci_config_file}@{ref_path}",
        "ci_config_sha": "b" * 40,
        "ref_path": ref_path,
        "ref": "v1.0.0",
        "ref_type": "tag",
        "sha": "b" * 40,
        "pipeline_id": "777",
    }
    if environment is not None:
        claims["environment"] = environment
    claims.update(extra)
    return claims
