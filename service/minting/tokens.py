"""Minted tokens: claims, signature, and the serialised form scanners can recognise.

The serialised token is `mintgate_` + JWT + `_` + six base62 characters of
CRC32 over the JWT. The prefix lets secret scanners find a leaked token; the
checksum lets them (and the verifier) tell a real one from random text
offline, before any signature work.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from service.minting.keys import ALGORITHM, SigningKeys

PREFIX = "mintgate_"
CHECKSUM_LENGTH = 6
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Minted:
    token: str
    expires: int
    jti: str
    projects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Grant:
    """What a mint is for: who, which projects, and what the run was."""

    subject: str
    provider: str
    projects: Sequence[str]
    publishers: Sequence[str]
    provenance: Mapping[str, str]


class Minter:
    def __init__(self, keys: SigningKeys, *, issuer: str, audience: str, ttl: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl

    def mint(self, grant: Grant, *, now: int) -> Minted:
        jti = secrets.token_urlsafe(18)
        projects = tuple(sorted(set(grant.projects)))
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": grant.subject,
            "projects": list(projects),
            "provider": grant.provider,
            "publishers": sorted(set(grant.publishers)),
            "provenance": dict(grant.provenance),
            "jti": jti,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
        }
        return Minted(
            token=sign(self.keys, claims), expires=now + self.ttl, jti=jti, projects=projects
        )


def sign(keys: SigningKeys, claims: Mapping[str, Any]) -> str:
    """Signed with the active key and serialised: every token the service issues."""
    active = keys.active
    signed = jwt.encode(
        dict(claims), active.private, algorithm=ALGORITHM, headers={"kid": active.kid}
    )
    return serialize(signed)


def checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    out = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, 62)
        out.append(_BASE62[digit])
    return "".join(reversed(out))


def serialize(signed_jwt: str) -> str:
    return f"{PREFIX}{signed_jwt}_{checksum(signed_jwt)}"


def unwrap(token: str) -> str | None:
    """The JWT inside a serialised token, or None when prefix or checksum is wrong."""
    if not token.startswith(PREFIX) or len(token) < len(PREFIX) + CHECKSUM_LENGTH + 2:
        return None
    body, sep, check = token[len(PREFIX) :].rpartition("_")
    if not sep or len(check) != CHECKSUM_LENGTH or not body.isascii():
        return None
    if not check.isascii():  # compare_digest raises on non-ASCII text
        return None
    return body if secrets.compare_digest(checksum(body), check) else None
