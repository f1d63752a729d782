"""Registry side: is this minted token good for an upload to this project?

mintgate is just another issuer here: its keys come through `jwks_cache`, so
once they are cached an upload costs no network call and no database read.
With a revocation store, each check also asks it (one Redis GET), last, so
only tokens that would otherwise pass pay for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

import jwks_cache
from service.exchange import KeySource
from service.minting.keys import ALGORITHM
from service.minting.tokens import unwrap
from service.oidc.jws import Compact, parse
from service.oidc.verify import check_times, decode
from service.publishers.base import INVALID_TOKEN, SERVICE_UNAVAILABLE, Refusal
from service.revocation import RevocationStore, RevocationUnavailable
from service.trust import normalize_project

OUT_OF_SCOPE = "project-not-in-scope"
TOKEN_REVOKED = "token-revoked"
REQUIRED = ("iss", "aud", "sub", "exp", "iat", "nbf", "jti", "projects")
# Claim of a narrowed token (RFC 8693 exchange): the jtis it descends from, oldest
# first, so revoking any ancestor revokes it too.
NARROWED_FROM = "narrowed_from"
MAX_ANCESTORS = 4


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    subject: str
    projects: tuple[str, ...]
    expires: int
    jti: str
    claims: Mapping[str, Any]
    ancestors: tuple[str, ...] = ()


class Verifier:
    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: int = 0,
        clock: Callable[[], float] = time.time,
        revocations: RevocationStore | None = None,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.clock = clock
        self.revocations = revocations

    async def verify(self, token: str, project: str) -> VerifiedToken | Refusal:
        """Good for an upload to `project`: authentic, current, in scope, not revoked."""
        claims = await self._authentic(token)
        if isinstance(claims, Refusal):
            return claims
        verified = self._shape(claims)
        if isinstance(verified, Refusal):
            return verified
        scoped = self._scope(verified, project)
        if isinstance(scoped, Refusal):
            return scoped
        return await self._unrevoked(scoped)

    async def inspect(self, token: str) -> VerifiedToken | Refusal:
        """Good for some project: what introspection and token exchange ask."""
        claims = await self._authentic(token)
        if isinstance(claims, Refusal):
            return claims
        verified = self._shape(claims)
        if isinstance(verified, Refusal):
            return verified
        return await self._unrevoked(verified)

    async def _authentic(self, token: str) -> dict[str, Any] | Refusal:
        opened = open_minted(token)
        if isinstance(opened, Refusal):
            return opened
        compact, kid = opened
        try:
            key = await self.keys.get_key(self.issuer, kid)
        except jwks_cache.KeyNotFound:
            return Refusal(INVALID_TOKEN, f"kid: {kid[:64]!r} is not a key of {self.issuer}")
        except jwks_cache.JWKSError:
            return Refusal(SERVICE_UNAVAILABLE, "mintgate's keys are unavailable; try again")
        claims = decode(
            compact,
            key,
            alg=ALGORITHM,
            audience=self.audience,
            issuer=self.issuer,
            required=REQUIRED,
        )
        if isinstance(claims, Refusal):
            return claims
        return check_times(claims, leeway=self.leeway, now=self.clock())

    def _shape(self, claims: dict[str, Any]) -> VerifiedToken | Refusal:
        projects = claims["projects"]
        if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
            return Refusal(INVALID_TOKEN, "projects: expected a list of project names")
        ancestors = claims.get(NARROWED_FROM, [])
        if (
            not isinstance(ancestors, list)
            or len(ancestors) > MAX_ANCESTORS
            or not all(isinstance(a, str) and a for a in ancestors)
        ):
            return Refusal(INVALID_TOKEN, f"{NARROWED_FROM}: expected a short list of token ids")
        return VerifiedToken(
            subject=str(claims["sub"]),
            projects=tuple(projects),
            expires=claims["exp"],
            jti=str(claims["jti"]),
            claims=claims,
            ancestors=tuple(ancestors),
        )

    def _scope(self, verified: VerifiedToken, project: str) -> VerifiedToken | Refusal:
        try:
            wanted = normalize_project(project)
        except ValueError:
            return Refusal(OUT_OF_SCOPE, f"{project[:100]!r} is not a valid project name")
        if wanted not in verified.projects:
            return Refusal(OUT_OF_SCOPE, f"token is not valid for project {wanted!r}")
        return verified

    async def _unrevoked(self, verified: VerifiedToken) -> VerifiedToken | Refusal:
        if self.revocations is None:
            return verified
        try:
            for token_id in (verified.jti, *verified.ancestors):
                if await self.revocations.is_revoked(token_id):
                    return Refusal(TOKEN_REVOKED, "token has been revoked")
        except RevocationUnavailable:
            # Fail closed: a token we cannot show is unrevoked is not accepted.
            return Refusal(SERVICE_UNAVAILABLE, "revocation status is unavailable; try again")
        return verified


def open_minted(token: str) -> tuple[Compact, str] | Refusal:
    """The JWS inside a mintgate token and its kid; nothing verified yet."""
    body = unwrap(token)
    if body is None:
        return Refusal(INVALID_TOKEN, "not a mintgate token (prefix or checksum is wrong)")
    compact = parse(body)
    if isinstance(compact, Refusal):
        return compact
    kid = compact.header.get("kid")
    if compact.header.get("alg") != ALGORITHM or not isinstance(kid, str) or not kid:
        return Refusal(INVALID_TOKEN, f"expected an {ALGORITHM} token with a kid")
    return compact, kid


def registry_verifier(
    service_url: str,
    audience: str,
    client: httpx.AsyncClient,
    *,
    allow_loopback_http: bool = False,
    clock: Callable[[], float] = time.time,
    revocations: RevocationStore | None = None,
) -> Verifier:
    """A verifier that finds mintgate's keys at `{service_url}/.well-known/jwks.json`.

    Pass the revocation store mintgate writes to (the same Redis) to honour
    `POST /oauth/revoke`; without it a revoked token stays good until `exp`.
    """
    source = jwks_cache.IssuerSource(service_url, jwks_uri=f"{service_url}/.well-known/jwks.json")
    fetcher = jwks_cache.HttpKeyFetcher(client, allow_loopback_http=allow_loopback_http)
    cache = jwks_cache.JWKSCache([source], fetcher, clock=clock)
    return Verifier(
        cache, issuer=service_url, audience=audience, clock=clock, revocations=revocations
    )
