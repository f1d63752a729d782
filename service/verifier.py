"""Registry side: is this minted token good for an upload to this project?

mintgate is just another issuer here: its keys come through `jwks_cache`, so
once they are cached an upload costs no network call and no database read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

import jwks_cache
from service.exchange import KeySource
from service.minting.keys import ALGORITHM
from service.minting.tokens import unwrap
from service.oidc.verify import check_times, decode
from service.publishers.base import INVALID_TOKEN, SERVICE_UNAVAILABLE, Refusal
from service.trust import normalize_project

OUT_OF_SCOPE = "project-not-in-scope"
REQUIRED = ("iss", "aud", "sub", "exp", "iat", "nbf", "jti", "projects")


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    projects: tuple[str, ...]
    expires: int
    jti: str
    claims: Mapping[str, Any]


class Verifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.clock = clock

    async def verify(self, token: str, project: str) -> VerifiedToken | Refusal:
        body = unwrap(token)
        if body is None:
            return Refusal(INVALID_TOKEN, "not a mintgate token (prefix or checksum is wrong)")
        try:
            header = jwt.get_unverified_header(body)
        except jwt.PyJWTError:
            return Refusal(INVALID_TOKEN, "token header is malformed")
        kid = header.get("kid")
        if header.get("alg") != ALGORITHM or not isinstance(kid, str):
            return Refusal(INVALID_TOKEN, f"expected an {ALGORITHM} token with a kid")
        try:
            key = await self.keys.get_key(self.issuer, kid)
        except jwks_cache.KeyNotFound:
            return Refusal(INVALID_TOKEN, f"kid: {kid[:64]!r} is not a key of {self.issuer}")
        except jwks_cache.JWKSError:
            return Refusal(SERVICE_UNAVAILABLE, "mintgate's keys are unavailable; try again")
        claims = decode(
            body, key, alg=ALGORITHM, audience=self.audience, issuer=self.issuer, required=REQUIRED
        )
        if isinstance(claims, Refusal):
            return claims
        checked = check_times(claims, leeway=self.leeway, now=self.clock())
        if isinstance(checked, Refusal):
            return checked
        return self._scope(checked, project)

    def _scope(self, claims: dict[str, Any], project: str) -> VerifiedToken | Refusal:
        projects = claims["projects"]
        if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
            return Refusal(INVALID_TOKEN, "projects: expected a list of project names")
        try:
            wanted = normalize_project(project)
        except ValueError:
            return Refusal(OUT_OF_SCOPE, f"{project[:100]!r} is not a valid project name")
        if wanted not in projects:
            return Refusal(OUT_OF_SCOPE, f"token is not valid for project {wanted!r}")
        return VerifiedToken(
            subject=str(claims["sub"]),
            projects=tuple(projects),
            expires=claims["exp"],
            jti=str(claims["jti"]),
            claims=claims,
        )


def registry_verifier(
    service_url: str,
    audience: str,
    client: httpx.AsyncClient,
    *,
    allow_loopback_http: bool = False,
    clock: Callable[[], float] = time.time,
) -> Verifier:
    """A verifier that finds mintgate's keys at `{service_url}/.well-known/jwks.json`."""
    source = jwks_cache.IssuerSource(service_url, jwks_uri=f"{service_url}/.well-known/jwks.json")
    fetcher = jwks_cache.HttpKeyFetcher(client, allow_loopback_http=allow_loopback_http)
    cache = jwks_cache.JWKSCache([source], fetcher, clock=clock)
    return Verifier(cache, issuer=service_url, audience=audience, clock=clock)
