"""JWKS document -> verification keys by kid, refusing anything that is not a public signing key.

A whole document is refused rather than partly trusted: a JWKS that carries a
private or symmetric key, a duplicate kid or a malformed entry says the issuer
(or whoever answers in its name) is broken, and the cache then keeps the keys
it already had. Only two clear rules skip a single key: `use` other than "sig"
and `key_ops` without "verify" (RFC 7517 4.2, 4.3) mark keys that were never
meant to verify signatures.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from .model import InvalidKeySet, Key

DEFAULT_MAX_KEYS = 32

# Members that only private or symmetric JWKs carry (RFC 7518 6.2.2, 6.3.2, 6.4; RFC 8037 2).
# Publishing one is a leak; accepting an "oct" `k` would let whoever wrote the document
# choose an HS secret that then verifies tokens they sign themselves.
_SECRET_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

# Asymmetric algorithms per key type. A JWK declaring any other alg ("HS256", "none", an RSA
# key claiming "ES256") is junk, not a key to guess about.
_ALGS_BY_KTY: dict[str, frozenset[str]] = {
    "RSA": frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    "EC": frozenset({"ES256", "ES384", "ES512", "ES521", "ES256K"}),
    "OKP": frozenset({"EdDSA"}),
}

# Below this PyJWT warns at every decode (RFC 7518 3.3 requires 2048); refuse once here instead.
_MIN_RSA_BITS = 2048

_MAX_KID_LENGTH = 256

_PUBLIC_KEY_TYPES = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


def parse_jwks(document: bytes, *, max_keys: int = DEFAULT_MAX_KEYS) -> dict[str, Key]:
    """Parse a JWKS document; raise `InvalidKeySet` unless it yields at least one usable key."""
    try:
        doc = json.loads(document)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and bad UTF-8; RecursionError a deeply nested bomb.
        raise InvalidKeySet("JWKS is not valid JSON") from None
    if not isinstance(doc, dict):
        raise InvalidKeySet(f"JWKS must be a JSON object, got {type(doc).__name__}")
    entries = doc.get("keys")
    if not isinstance(entries, list):
        raise InvalidKeySet("JWKS 'keys' must be a list")
    # Counted before any parsing: RSA key construction is the expensive part.
    if len(entries) > max_keys:
        raise InvalidKeySet(f"JWKS has {len(entries)} keys, at most {max_keys} allowed")

    keys: dict[str, Key] = {}
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        kid = _kid(entry, index)
        if kid in seen:
            # Two keys under one kid make "which key verifies this token" ambiguous.
            raise InvalidKeySet(f"JWKS has duplicate kid {kid!r}")
        seen.add(kid)
        # Before the skip rules: a private key marked "enc" or key_ops ["sign"] is still a leak.
        if _SECRET_MEMBERS & entry.keys():
            raise InvalidKeySet(f"JWKS key {kid!r} carries private or symmetric key material")
        if not _meant_for_verification(entry):
            continue
        keys[kid] = _public_key(entry, kid)
    if not keys:
        raise InvalidKeySet("JWKS has no usable signing keys")
    return keys


def _kid(entry: Any, index: int) -> str:
    if not isinstance(entry, dict):
        raise InvalidKeySet(f"JWKS key #{index} is not an object")
    kid = entry.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_KID_LENGTH:
        raise InvalidKeySet(f"JWKS key #{index}: 'kid' must be a non-empty string")
    return kid


def _meant_for_verification(entry: dict[str, Any]) -> bool:
    use = entry.get("use")
    if use is not None and use != "sig":
        return False
    ops = entry.get("key_ops")
    return ops is None or (isinstance(ops, list) and "verify" in ops)


def _public_key(entry: dict[str, Any], kid: str) -> Key:
    # PyJWT would happily build a private or HMAC key (refused by the caller already), and
    # its error messages embed the whole JWK, so they are never echoed.
    kty = entry.get("kty")
    if not isinstance(kty, str) or kty not in _ALGS_BY_KTY:
        raise InvalidKeySet(f"JWKS key {kid!r}: unsupported kty {_short(kty)}")
    alg = entry.get("alg")
    if alg is not None and (not isinstance(alg, str) or alg not in _ALGS_BY_KTY[kty]):
        raise InvalidKeySet(f"JWKS key {kid!r}: alg {_short(alg)} is not valid for kty {kty}")
    try:
        key = jwt.PyJWK(entry).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        raise InvalidKeySet(f"JWKS key {kid!r}: malformed {kty} key") from None
    if not isinstance(key, _PUBLIC_KEY_TYPES):
        # Belt and braces behind the member check: only public keys ever leave this module.
        raise InvalidKeySet(f"JWKS key {kid!r}: not a public key")
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < _MIN_RSA_BITS:
        raise InvalidKeySet(f"JWKS key {kid!r}: RSA key of {key.key_size} bits is too short")
    return Key(kid=kid, key=key, kty=kty, alg=alg)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
