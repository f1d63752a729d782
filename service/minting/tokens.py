"""Minted tokens: claims, signature, and the serialised form scanners can recognise.

The serialised token is `mintgate_` + JWT + `_` + six base62 characters of
CRC32 over the JWT. The prefix lets secret scanners find a leaked token; the
checksum lets them (and the verifier) tell a real one from random text
offline, before any signature work.
"""

from __future__ import annotations

import base64
import functools
import json
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jwt.algorithms import get_default_algorithms

from service.minting.keys import ALGORITHM, SigningKeys

PREFIX = "mintgate_"
# Claim: the projects this token may only stage for (issue 21). Inside the signature, so it
# cannot be stripped; oauth/narrowing.py carries it into narrowed tokens.
STAGE_ONLY = "stage_only"
CHECKSUM_LENGTH = 6
_SIGNER = get_default_algorithms()[ALGORITHM]
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True, slots=True)
class Minted:
    token: str
    expires: int
    jti: str
    projects: tuple[str, ...]
    issued: int = 0  # iat


@dataclass(frozen=True, slots=True)
class Planned:
    """A token's claims before signing (Minter.plan)."""

    claims: Mapping[str, Any]
    expires: int
    jti: str
    projects: tuple[str, ...]
    issued: int


@dataclass(frozen=True, slots=True)
class Grant:
    """What a mint is for: who, which projects, and what the run was."""

    subject: str
    provider: str
    projects: Sequence[str]
    publishers: Sequence[str]
    provenance: Mapping[str, str]
    # Projects whose matched publisher may stage, not publish (issue 21): carried as the
    # signed `stage_only` claim, so the gateway stages every upload to them.
    stage_only: Sequence[str] = ()


class Minter:
    def __init__(self, keys: SigningKeys, *, issuer: str, audience: str, ttl: int) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl

    def mint(self, grant: Grant, *, now: int) -> Minted:
        return self.sign(self.plan(grant, now=now))

    def plan(self, grant: Grant, *, now: int) -> Planned:
        """Everything the token will say, unsigned: the mint journal records a token
        before it is signed (trust/journal.py), and nothing is signed unrecorded."""
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
        stage_only = sorted(set(grant.stage_only) & set(projects))
        if stage_only:
            claims[STAGE_ONLY] = stage_only
        return Planned(claims, expires=now + self.ttl, jti=jti, projects=projects, issued=now)

    def sign(self, planned: Planned) -> Minted:
        return Minted(
            token=sign(self.keys, planned.claims),
            expires=planned.expires,
            jti=planned.jti,
            projects=planned.projects,
            issued=planned.issued,
        )


def sign(keys: SigningKeys, claims: Mapping[str, Any]) -> str:
    """Signed with the active key and serialised: every token the service issues.

    PyJWT's algorithm object makes the signature; the compact form around it is
    built here because the header is the same for every token of a key (encoded
    once) and the claims are ours, so `jwt.encode`'s checks of them buy nothing.
    """
    active = keys.active
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{_header(active.kid)}.{payload}"
    signature = _SIGNER.sign(signing_input.encode("ascii"), active.private)
    return serialize(f"{signing_input}.{_b64(signature)}")


@functools.lru_cache(maxsize=16)
def _header(kid: str) -> str:
    header = {"alg": ALGORITHM, "kid": kid, "typ": "JWT"}
    return _b64(json.dumps(header, separators=(",", ":")).encode())


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


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


def stage_only_projects(claims: Mapping[str, Any]) -> frozenset[str]:
    """The signed `stage_only` claim: projects this token may stage for, never publish.

    A malformed claim means every project (fail closed): it can only come from our key.
    """
    value = claims.get(STAGE_ONLY, [])
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        return frozenset(str(p) for p in claims.get("projects", []) if isinstance(p, str))
    return frozenset(value)
