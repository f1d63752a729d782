"""Token families a scanner report may belong to, each able to revoke its own.

`TokenRevoker` is the seam: minted tokens are revoked here; API tokens
(`mgapi_`) plug in as another revoker with the same contract, without the
partner endpoint changing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from biscuit_auth import PublicKey

import jwks_cache
from service.apitokens.authorize import identify
from service.apitokens.format import PREFIX as API_PREFIX
from service.exchange import KeySource
from service.minting.keys import ALGORITHM
from service.minting.tokens import PREFIX
from service.oauth.authority import REVOCATION_MARGIN
from service.oidc.verify import decode
from service.publishers.base import Refusal
from service.revocation import RevocationStore, RevocationUnavailable
from service.verifier import open_minted


@dataclass(frozen=True, slots=True)
class Revoked:
    """An authentic token that is now revoked (or had already expired past every leeway)."""

    token_type: str
    token_id: str
    subject: str
    expires: int | None  # None where the token carries no readable expiry (API tokens)
    recorded: bool  # False: expired beyond the margin, so no verifier accepts it anyway


class TokenRevoker(Protocol):
    @property
    def token_type(self) -> str: ...

    def recognises(self, token: str) -> bool:
        """Cheap and offline (a prefix): whether this family should look at the token."""
        ...

    async def revoke(self, token: str) -> Revoked | None:
        """Revoke `token` if it is authentic, expired or not; None when it is not ours.

        Raises RevocationUnavailable when an authentic token cannot be revoked.
        """
        ...


class MintedTokenRevoker:
    """`mintgate_` tokens: prefix, checksum and signature by the service's own keys.

    Expiry is deliberately not checked: an expired token is still a real leak
    (GitHub should call it a true positive), and inside the verifiers' leeway
    it could still be used, so its jti is revoked until `exp` + the margin.
    """

    token_type = "mintgate"

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        revocations: RevocationStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._revocations = revocations
        self._clock = clock

    def recognises(self, token: str) -> bool:
        return token.startswith(PREFIX)

    async def revoke(self, token: str) -> Revoked | None:
        authentic = await self._authentic(token)
        if authentic is None:
            return None
        jti, subject, expires = authentic
        until = expires + REVOCATION_MARGIN
        recorded = until > self._clock()
        if recorded:
            await self._revocations.revoke(jti, until=until)
        return Revoked(self.token_type, jti, subject, expires, recorded)

    async def _authentic(self, token: str) -> tuple[str, str, int] | None:
        opened = open_minted(token)
        if isinstance(opened, Refusal):
            return None
        compact, kid = opened
        try:
            key = await self._keys.get_key(self._issuer, kid)
        except jwks_cache.KeyNotFound:
            return None
        except jwks_cache.JWKSError:
            # Not knowing our own keys must not turn a real leak into "false_positive".
            raise RevocationUnavailable("the service's own keys are unavailable") from None
        claims = decode(
            compact,
            key,
            alg=ALGORITHM,
            audience=self._audience,
            issuer=self._issuer,
            required=("jti", "exp"),
        )
        if isinstance(claims, Refusal):
            return None
        jti, exp = claims["jti"], claims["exp"]
        if not isinstance(jti, str) or not isinstance(exp, int) or isinstance(exp, bool):
            return None
        return jti, str(claims.get("sub", "")), exp


class ApiTokenRevoker:
    """`mgapi_` tokens: our root key's signature, then the token id revoked in the store.

    `revoke_id` answers whether the id was known (and is now revoked); it raises
    RevocationUnavailable when the store cannot record it. Expiry is not checked,
    for the same reason as minted tokens.
    """

    token_type = "mintgate-api"

    def __init__(self, root: PublicKey, revoke_id: Callable[[str], Awaitable[bool]]) -> None:
        self._root = root
        self._revoke_id = revoke_id

    def recognises(self, token: str) -> bool:
        return token.startswith(API_PREFIX)

    async def revoke(self, token: str) -> Revoked | None:
        found = identify(self._root, token)
        if found is None:
            return None
        known = await self._revoke_id(found.token_id)
        # An id the store never issued is not one of ours to report, even if signed.
        if not known:
            return None
        return Revoked(
            token_type=self.token_type,
            token_id=found.token_id,
            subject=f"user:{found.user_name}",
            expires=None,
            recorded=True,
        )
