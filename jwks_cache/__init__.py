"""Signing keys of OIDC issuers, fetched safely and cached well. Imports nothing from `service`."""

from .cache import CacheStats, JWKSCache
from .fetch import HttpKeyFetcher
from .keyset import parse_jwks
from .model import (
    FetchedKeys,
    FetchError,
    InvalidKeySet,
    IssuerSource,
    JWKSError,
    Key,
    KeyFetcher,
    KeyNotFound,
    KeysUnavailable,
    UnknownIssuer,
)
from .shared import RedisSharedKeys, SharedDocument, SharedKeyStore

__all__ = [
    "CacheStats",
    "FetchError",
    "FetchedKeys",
    "HttpKeyFetcher",
    "InvalidKeySet",
    "IssuerSource",
    "JWKSCache",
    "JWKSError",
    "Key",
    "KeyFetcher",
    "KeyNotFound",
    "KeysUnavailable",
    "RedisSharedKeys",
    "SharedDocument",
    "SharedKeyStore",
    "UnknownIssuer",
    "parse_jwks",
]
