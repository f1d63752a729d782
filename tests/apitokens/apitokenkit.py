"""Shared by the API-token tests: a real root key, issued tokens, fake state that records."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import jwt
from fakeissuer import NOW, Clock

import jwks_cache
from service.apitokens.format import serialize, unwrap
from service.apitokens.issue import ApiTokenGrant, IssuedApiToken, issue
from service.apitokens.keys import RootKey
from service.apitokens.status import StatusUnavailable
from service.apitokens.verify import ApiTokenVerifier
from service.minting.keys import SigningKeys
from service.minting.tokens import Grant, Minter

HOUR = 3600
USER_ID = "user-7"
USER_NAME = "alice"
PROJECTS = ("sampleproject", "other")
SERVICE = "https://mintgate.example"

__all__ = ["HOUR", "NOW", "PROJECTS", "USER_ID", "Clock", "State"]


def issue_token(
    root: RootKey,
    projects: Sequence[str] | None = PROJECTS,
    *,
    expires: int = NOW + 24 * HOUR,
) -> IssuedApiToken:
    return issue(root, ApiTokenGrant(USER_ID, USER_NAME, projects, expires), now=NOW)


@dataclass
class State:
    """TokenStatus, UserStatus and ProjectPolicy at once, all answering yes unless told."""

    revoked: set[str] = field(default_factory=set)
    without_two_factor: set[str] = field(default_factory=set)
    maintainers: set[tuple[str, str]] = field(
        default_factory=lambda: {(USER_ID, p) for p in ("sampleproject", "other", "third")}
    )
    publishing_only: set[str] = field(default_factory=set)
    down: bool = False
    calls: list[str] = field(default_factory=list)

    def _ask(self, what: str) -> None:
        self.calls.append(what)
        if self.down:
            raise StatusUnavailable(what)

    async def is_revoked(self, token_id: str) -> bool:
        self._ask("is_revoked")
        return token_id in self.revoked

    async def has_two_factor(self, user_id: str) -> bool:
        self._ask("has_two_factor")
        return user_id not in self.without_two_factor

    async def maintains(self, user_id: str, project: str) -> bool:
        self._ask("maintains")
        return (user_id, project) in self.maintainers

    async def trusted_publishing_only(self, project: str) -> bool:
        self._ask("trusted_publishing_only")
        return project in self.publishing_only


def api_verifier(root: RootKey, state: State, clock: Clock) -> ApiTokenVerifier:
    return ApiTokenVerifier(root.public, tokens=state, users=state, policy=state, clock=clock)


def rewrap(token: str, edit: bytes, replacement: bytes) -> str:
    """The token with bytes inside its biscuit replaced and a valid checksum again.

    What an attacker who knows the format does: the checksum is no secret.
    """
    body = unwrap(token)
    assert body is not None
    raw = base64.urlsafe_b64decode(body)
    assert edit in raw
    return serialize(base64.urlsafe_b64encode(raw.replace(edit, replacement)).decode())


class MintgateKeys:
    """mintgate's published signing keys, as jwks_cache hands them to the minted Verifier."""

    def __init__(self, keys: SigningKeys) -> None:
        self.by_kid = {
            k["kid"]: jwks_cache.Key(kid=k["kid"], key=jwt.PyJWK(k).key, kty="EC", alg="ES256")
            for k in keys.public_jwks()["keys"]
        }

    async def get_key(self, issuer: str, kid: str) -> jwks_cache.Key:
        if issuer != SERVICE or kid not in self.by_kid:
            raise jwks_cache.KeyNotFound(kid)
        return self.by_kid[kid]


def minted_token(keys: SigningKeys, projects: Sequence[str] = ("sampleproject",)) -> str:
    minter = Minter(keys, issuer=SERVICE, audience="upload", ttl=900)
    grant = Grant(
        subject="github:x", provider="github", projects=projects, publishers=["p"], provenance={}
    )
    return minter.mint(grant, now=NOW).token
