"""Compact JWS (RFC 7515), parsed once: the parts the envelope reads are the parts signed.

`parse` splits and decodes a token with no key and no trust: strict base64url
(the alphabet only, no padding, canonical: the unused bits of the last
character are zero, the rule PyJWT 2.13 added after GHSA-hxm8-2xgr-2p9m), JSON
objects for header and payload. `verify_signature` then checks the signature
over exactly those bytes with PyJWT's algorithm objects, which hold the
alg -> hash/padding mapping and the key checks (curve, key length); no
cryptography is done here.

Why not `jwt.decode`: it parses every part again after the envelope already
has (two base64 passes and two JSON parses per token), and its per-character
alphabet check in Python is most of its cost. A regular expression gives the
same answer in C. tests/properties/test_prop_jws.py holds the two readings
against each other: whatever this module accepts, `jwt.decode` accepts with the
same claims.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import InvalidKeyError

from jwks_cache import Key
from service.publishers.base import INVALID_TOKEN, Refusal
from service.textjson import loads

# RFC 7515 §2: base64url without padding; RFC 4648 §5 alphabet.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()
# Which key types may verify which algorithm family: a token whose alg does not
# fit the key is refused before any signature work (algorithm confusion).
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


@dataclass(frozen=True, slots=True)
class Compact:
    """A well-formed compact JWS. Nothing in it is verified yet."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


def parse(token: str) -> Compact | Refusal:
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return Refusal(INVALID_TOKEN, "token is not a compact JWT (expected three parts)")
    header = _object(parts[0])
    if header is None:
        return Refusal(INVALID_TOKEN, "token header is not base64url-encoded JSON object")
    claims = _object(parts[1])
    if claims is None:
        return Refusal(INVALID_TOKEN, "token payload is not base64url-encoded JSON object")
    signature = _decode(parts[2])
    if signature is None:
        return Refusal(INVALID_TOKEN, "token signature is not base64url-encoded")
    signing_input = token[: len(parts[0]) + 1 + len(parts[1])].encode("ascii")
    return Compact(header, claims, signing_input, signature)


def verify_signature(compact: Compact, key: Key, alg: str) -> Refusal | None:
    """The signature of `compact` under `key` with `alg`, which the caller has allowed."""
    if compact.header.get("alg") != alg:
        return Refusal(INVALID_TOKEN, f"alg: expected {alg!r}")
    if KEY_TYPES.get(alg[:2]) != key.kty or (key.alg is not None and key.alg != alg):
        return Refusal(INVALID_TOKEN, f"alg {alg[:20]!r} does not fit key {key.kid[:64]!r}")
    if "crit" in compact.header or "b64" in compact.header:
        # No extension is understood here (RFC 7515 §4.1.11: refuse what is critical).
        return Refusal(INVALID_TOKEN, "token header names extensions this service does not know")
    algorithm = _ALGORITHMS.get(alg)
    if algorithm is None:
        return Refusal(INVALID_TOKEN, f"alg: {alg[:20]!r} is not supported")
    try:
        prepared = algorithm.prepare_key(key.key)
    except (InvalidKeyError, TypeError):
        return Refusal(INVALID_TOKEN, f"alg {alg[:20]!r} does not fit key {key.kid[:64]!r}")
    if algorithm.check_key_length(prepared) is not None:
        return Refusal(INVALID_TOKEN, f"key {key.kid[:64]!r} is too short for {alg[:20]!r}")
    if not algorithm.verify(compact.signing_input, prepared, compact.signature):
        return Refusal(INVALID_TOKEN, "signature does not verify")
    return None


def _decode(segment: str) -> bytes | None:
    if _SEGMENT.fullmatch(segment) is None or len(segment) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error:
        return None
    # Canonical only: another spelling of the same bytes is another token.
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        return None
    return raw


def _object(segment: str) -> dict[str, Any] | None:
    raw = _decode(segment)
    if raw is None:
        return None
    try:
        # textjson: a claim holding a lone surrogate is no text (NotText is a ValueError).
        value = loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
