"""GitHub's secret-scanning key document, and the values around it.

The document (https://api.github.com/meta/public_keys/secret_scanning) is
`{"public_keys": [{"key_identifier", "key" (PEM), "is_current"}]}`. Only
P-256 keys are kept: the partner program signs with ECDSA-NIST-P256V1-SHA256,
so any other key could only ever verify a signature it should not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

MAX_KEYS = 32
# GitHub's identifiers are 64 hex digits today; anything outside this shape is never
# looked up, so a sprayed header cannot drive a refetch or reach a log unbounded.
IDENTIFIER = re.compile(r"[A-Za-z0-9._-]{1,128}")
MAX_PEM_CHARS = 4096

PublicKeys = Mapping[str, ec.EllipticCurvePublicKey]


class KeyDocumentError(Exception):
    """The key document is unusable; the message never carries its body."""


class KeysUnavailable(Exception):
    """No keys to verify with: never fetched, or too stale and the URL is down."""


class UnknownKey(Exception):
    """The keys are known, but not this identifier."""


@dataclass(frozen=True, slots=True)
class Fetched:
    keys: PublicKeys
    etag: str | None


class NotModified:
    """A 304 to a conditional request: the cached keys are still GitHub's keys."""


class PublicKeyFetcher(Protocol):
    async def fetch(self, etag: str | None) -> Fetched | NotModified:
        """Raises KeyDocumentError when no usable document arrives."""
        ...


class PublicKeySource(Protocol):
    async def get(self, identifier: str) -> ec.EllipticCurvePublicKey:
        """Raises UnknownKey, or KeysUnavailable when nothing usable is cached."""
        ...


def parse_public_keys(
    body: bytes, *, max_keys: int = MAX_KEYS
) -> dict[str, ec.EllipticCurvePublicKey]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise KeyDocumentError("not valid JSON") from None
    entries = document.get("public_keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeyDocumentError("expected an object with a 'public_keys' list")
    if len(entries) > max_keys:
        raise KeyDocumentError(f"{len(entries)} keys, more than {max_keys}")
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for entry in entries:
        parsed = _entry(entry)
        if parsed is not None:
            keys[parsed[0]] = parsed[1]
    if not keys:
        # An empty set must not replace good keys: every signature would then fail.
        raise KeyDocumentError("no usable P-256 key")
    return keys


def _entry(entry: object) -> tuple[str, ec.EllipticCurvePublicKey] | None:
    # One odd entry (a future key type) is skipped, not fatal: the others still verify.
    # `is_current` is not consulted: a listed key is GitHub's, and during a rotation
    # requests signed by the outgoing key are still in flight.
    if not isinstance(entry, dict):
        return None
    identifier, pem = entry.get("key_identifier"), entry.get("key")
    if not isinstance(identifier, str) or not IDENTIFIER.fullmatch(identifier):
        return None
    if not isinstance(pem, str) or len(pem) > MAX_PEM_CHARS:
        return None
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return identifier, key
