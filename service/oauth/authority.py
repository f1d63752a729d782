"""The service acting on its own tokens: introspect, revoke, narrow (RFC 7662, 7009, 8693).

Its own tokens are verified with its own signing keys, held in memory: no
HTTP request to its own JWKS, and the same `Verifier` a registry runs, so
"active" here means exactly "a registry would accept it for some project".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

import jwks_cache
from service.minting.keys import ALGORITHM, SigningKeys
from service.minting.tokens import sign
from service.oauth.narrowing import ExchangeRequest, OAuthError, narrow
from service.publishers.base import SERVICE_UNAVAILABLE, Refusal
from service.revocation import RevocationStore, RevocationUnavailable
from service.verifier import Verifier

log = logging.getLogger(__name__)

# A revocation outlives `exp` by the widest leeway a verifier may be given
# (MINTGATE_LEEWAY's bound), so no verifier accepts the token after its record expired.
REVOCATION_MARGIN = 300
TOKEN_TYPE = "mintgate"
INTROSPECTED = ("sub", "aud", "iss", "exp", "iat", "nbf", "jti")


class OwnKeys:
    """A `KeySource` over the service's own public keys, active and retired."""

    def __init__(self, keys: SigningKeys, *, issuer: str) -> None:
        self.issuer = issuer
        self.by_kid = {
            jwk["kid"]: jwks_cache.Key(
                kid=jwk["kid"], key=jwt.PyJWK(jwk).key, kty="EC", alg=ALGORITHM
            )
            for jwk in keys.public_jwks()["keys"]
        }

    async def get_key(self, issuer: str, kid: str) -> jwks_cache.Key:
        key = self.by_kid.get(kid)
        if issuer != self.issuer or key is None:
            raise jwks_cache.KeyNotFound(kid[:64])
        return key


@dataclass(frozen=True, slots=True)
class Exchanged:
    token: str
    expires_in: int


UNAVAILABLE = OAuthError("temporarily_unavailable", "revocation status is unavailable; try again")


class Authority:
    def __init__(
        self,
        keys: SigningKeys,
        *,
        issuer: str,
        audience: str,
        revocations: RevocationStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.revocations = revocations
        self.clock = clock
        # No leeway: the clock that judges these tokens is the one that minted them.
        self.verifier = Verifier(
            OwnKeys(keys, issuer=issuer),
            issuer=issuer,
            audience=audience,
            clock=clock,
            revocations=revocations,
        )

    async def introspect(self, token: str) -> dict[str, Any] | OAuthError:
        verified = await self.verifier.inspect(token)
        if isinstance(verified, Refusal):
            if verified.code == SERVICE_UNAVAILABLE:
                return UNAVAILABLE
            # RFC 7662 2.2: expired, revoked, forged and foreign all look the same.
            return {"active": False}
        claims = verified.claims
        return {
            "active": True,
            "scope": "upload",
            **{name: claims[name] for name in INTROSPECTED},
            "token_type": TOKEN_TYPE,
            "projects": list(verified.projects),
        }

    async def revoke(self, token: str, *, client_id: str) -> OAuthError | None:
        verified = await self.verifier.inspect(token)
        if isinstance(verified, Refusal):
            # RFC 7009 2.2: an invalid, expired or already revoked token is not an error.
            return UNAVAILABLE if verified.code == SERVICE_UNAVAILABLE else None
        try:
            await self.revocations.revoke(verified.jti, until=verified.expires + REVOCATION_MARGIN)
        except RevocationUnavailable:
            return UNAVAILABLE
        log.info(
            "revoked token %s of %s (%s) at the request of client %s",
            verified.jti,
            verified.subject,
            ",".join(verified.projects),
            client_id,
        )
        return None

    async def exchange(self, request: ExchangeRequest) -> Exchanged | OAuthError:
        verified = await self.verifier.inspect(request.subject_token)
        if isinstance(verified, Refusal):
            if verified.code == SERVICE_UNAVAILABLE:
                return UNAVAILABLE
            return OAuthError("invalid_grant", f"subject_token: {verified.description}")
        now = int(self.clock())
        claims = narrow(verified, request, now=now)
        if isinstance(claims, OAuthError):
            return claims
        log.info(
            "narrowed token %s to %s for %s until %d",
            verified.jti,
            claims["jti"],
            ",".join(claims["projects"]),
            claims["exp"],
        )
        return Exchanged(token=sign(self.keys, claims), expires_in=claims["exp"] - now)
