"""Values, errors and the fetcher seam shared by every jwks_cache module.

Kept apart from the modules that do work so `keyset`, `fetch`, `shared` and
`cache` can all import them without importing each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class IssuerSource:
    issuer: str  # exact issuer string, as configured
    jwks_uri: str | None = None  # None: use OIDC discovery
    allowed_hosts: frozenset[str] = frozenset()  # extra hosts the jwks_uri may live on


@dataclass(frozen=True, slots=True)
class Key:
    kid: str
    key: Any  # cryptography public key object, ready for jwt.decode(..., key=...)
    kty: str  # "RSA" | "EC" | "OKP"
    alg: str | None  # the JWK's own "alg", if it declares one


@dataclass(frozen=True, slots=True)
class FetchedKeys:
    keys: Mapping[str, Key]
    document: bytes  # the raw JWKS bytes (for the shared level)
    max_age: float | None  # from Cache-Control, unclamped


class KeyFetcher(Protocol):
    async def fetch(self, source: IssuerSource) -> FetchedKeys: ...


class JWKSError(Exception):
    pass


class UnknownIssuer(JWKSError):
    """The issuer is not configured; nothing was fetched."""


class KeyNotFound(JWKSError):
    """The issuer's keys are known, but not this kid."""


class KeysUnavailable(JWKSError):
    """No usable keys: the issuer is down or sends junk and nothing (fresh enough) is cached."""


class FetchError(JWKSError):
    """A fetcher could not produce a usable key set."""


class InvalidKeySet(JWKSError):
    """A JWKS document broke a keyset rule (see `keyset.parse_jwks`)."""
