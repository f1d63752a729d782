"""ApiTokenVerifier: may this API token upload to this project, right now?

First the pure checks (authorize.py: signature, expiry, scope), then state,
cheapest question first and each only if the previous held: revoked, owner's
2FA, owner still maintains the project, project still accepts API tokens.
Refusals share service.verifier's shape and codes where they mean the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from biscuit_auth import PublicKey

from service.apitokens.authorize import TOKEN_EXPIRED, VerifiedApiToken, authorize
from service.apitokens.status import ProjectPolicy, StatusUnavailable, TokenStatus, UserStatus
from service.publishers.base import INVALID_TOKEN, SERVICE_UNAVAILABLE, Refusal
from service.verifier import OUT_OF_SCOPE, TOKEN_REVOKED

TWO_FACTOR_REQUIRED = "two-factor-required"
NOT_A_MAINTAINER = "not-a-maintainer"
TRUSTED_PUBLISHING_ONLY = "trusted-publishing-only"

__all__ = [
    "INVALID_TOKEN",
    "NOT_A_MAINTAINER",
    "OUT_OF_SCOPE",
    "TOKEN_EXPIRED",
    "TOKEN_REVOKED",
    "TRUSTED_PUBLISHING_ONLY",
    "TWO_FACTOR_REQUIRED",
    "ApiTokenVerifier",
    "VerifiedApiToken",
]


@dataclass(frozen=True, slots=True)
class ApiTokenVerifier:
    root: PublicKey
    tokens: TokenStatus
    users: UserStatus
    policy: ProjectPolicy
    clock: Callable[[], float] = time.time

    async def verify(self, token: str, project: str) -> VerifiedApiToken | Refusal:
        verified = authorize(self.root, token, project, now=self.clock())
        if isinstance(verified, Refusal):
            return verified
        try:
            refusal = await self._state(verified)
        except StatusUnavailable:
            return Refusal(SERVICE_UNAVAILABLE, "token or account status is unavailable; try again")
        return verified if refusal is None else refusal

    async def _state(self, token: VerifiedApiToken) -> Refusal | None:
        if await self.tokens.is_revoked(token.token_id):
            return Refusal(TOKEN_REVOKED, "token has been revoked")
        if not await self.users.has_two_factor(token.user_id):
            return Refusal(
                TWO_FACTOR_REQUIRED,
                f"user {token.user_name!r} no longer has two-factor authentication;"
                " API tokens stop working until it is enabled again",
            )
        if not await self.users.maintains(token.user_id, token.project):
            return Refusal(
                NOT_A_MAINTAINER,
                f"user {token.user_name!r} does not maintain project {token.project!r}",
            )
        if await self.policy.trusted_publishing_only(token.project):
            return Refusal(
                TRUSTED_PUBLISHING_ONLY,
                f"project {token.project!r} accepts only trusted publishing, not API tokens",
            )
        return None
