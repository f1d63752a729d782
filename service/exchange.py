"""The one orchestration of a mint: OIDC token in, `Minted` or `Refusal` out.

The order is the security argument: cheap structural checks first, then the
issuer allow-list (before any network request), then the signature, then the
publisher policies, and the replay record last, so a token that fails any
other gate does not burn its jti, and nothing is signed unless every gate held.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import jwks_cache
from service.issuers import Issuers
from service.minting.tokens import Grant, Minted, Minter
from service.oidc.envelope import open_envelope
from service.oidc.verify import verify_token
from service.publishers import PROVIDERS
from service.publishers.base import (
    INVALID_PUBLISHER,
    INVALID_REUSE_TOKEN,
    INVALID_TOKEN,
    NOT_ENABLED,
    SERVICE_UNAVAILABLE,
    Claims,
    Match,
    Refusal,
    lookup_value,
)
from service.replay import ReplayStore, ReplayUnavailable
from service.trust import TrustStore

log = logging.getLogger(__name__)

MAX_REASONS = 5


class KeySource(Protocol):
    async def get_key(self, issuer: str, kid: str) -> jwks_cache.Key: ...


class Exchange:
    def __init__(
        self,
        *,
        issuers: Issuers,
        keys: KeySource,
        trust: TrustStore,
        replay: ReplayStore,
        minter: Minter,
        enabled: bool = True,
        disabled_providers: frozenset[str] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.issuers = issuers
        self.keys = keys
        self.trust = trust
        self.replay = replay
        self.minter = minter
        self.enabled = enabled
        self.disabled_providers = disabled_providers
        self.clock = clock

    async def mint(self, token: str) -> Minted | Refusal:
        result = await self._mint(token)
        if isinstance(result, Refusal):
            log.info("mint refused: %s: %s", result.code, result.description)
        else:
            log.info("minted %s for %s", result.jti, ",".join(result.projects))
        return result

    async def _mint(self, token: str) -> Minted | Refusal:
        if not self.enabled:
            return Refusal(NOT_ENABLED, "trusted publishing is not enabled")
        envelope = open_envelope(token)
        if isinstance(envelope, Refusal):
            return envelope
        issuer = self.issuers.get(envelope.issuer)
        if issuer is None:
            return Refusal(INVALID_TOKEN, f"iss: {envelope.issuer[:100]!r} is not a trusted issuer")
        if issuer.provider in self.disabled_providers:
            return Refusal(NOT_ENABLED, f"trusted publishing from {issuer.provider} is not enabled")
        try:
            key = await self.keys.get_key(issuer.url, envelope.kid)
        except jwks_cache.KeyNotFound:
            return Refusal(
                INVALID_TOKEN, f"kid: {envelope.kid[:64]!r} is not a key of {issuer.url}"
            )
        except jwks_cache.JWKSError as exc:
            log.warning("keys of %s unavailable: %s", issuer.url, exc)
            return Refusal(SERVICE_UNAVAILABLE, f"keys of {issuer.url} are unavailable; try again")
        now = int(self.clock())
        claims = verify_token(token, envelope.alg, key, issuer, now=now)
        if isinstance(claims, Refusal):
            return claims
        grant = await self._grant(issuer.url, issuer.provider, claims, now)
        if isinstance(grant, Refusal):
            return grant
        try:
            first_use = await self.replay.consume(
                issuer.url, claims["jti"], until=claims["exp"] + issuer.leeway
            )
        except ReplayUnavailable as exc:
            log.warning("replay store unavailable: %s", exc)
            return Refusal(SERVICE_UNAVAILABLE, "replay protection is unavailable; try again")
        if not first_use:
            return Refusal(INVALID_REUSE_TOKEN, "invalid token: already used")
        return self.minter.mint(grant, now=now)

    async def _grant(self, issuer: str, provider: str, claims: Claims, now: int) -> Grant | Refusal:
        lookup_claim: str = PROVIDERS[provider].LOOKUP_CLAIM
        lookup_key = lookup_value(claims, lookup_claim)
        if isinstance(lookup_key, Refusal):
            return lookup_key
        candidates = await self.trust.publishers_for(issuer, lookup_key)
        if not candidates:
            shown = str(claims[lookup_claim])[:200]
            return Refusal(
                INVALID_PUBLISHER,
                f"valid token, but no trusted publisher for {lookup_claim} {shown!r}",
            )
        projects: list[str] = []
        matches: list[Match] = []
        reasons: list[str] = []
        for trusted in candidates:
            outcome = trusted.publisher.verify(claims, now=now)
            if isinstance(outcome, Match):
                projects.append(trusted.project)
                matches.append(outcome)
            elif outcome.description not in reasons:
                reasons.append(outcome.description)
        if not matches:
            shown = "; ".join(reasons[:MAX_REASONS])
            more = f" (and {len(reasons) - MAX_REASONS} more)" if len(reasons) > MAX_REASONS else ""
            return Refusal(
                INVALID_PUBLISHER,
                f"valid token, but no corresponding publisher: {shown}{more}",
            )
        return Grant(
            subject=f"{provider}:{claims['sub']}",
            provider=provider,
            projects=projects,
            publishers=[m.publisher for m in matches],
            provenance=matches[0].provenance,
        )
