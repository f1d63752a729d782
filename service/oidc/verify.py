"""Signature and registered claims of a JWT: CI tokens here, minted tokens in `verifier`.

The signature is checked over the parts `jws.parse` already read (PyJWT's
algorithm objects do the cryptography); `aud`, `iss` and the required claims
here; the times against an injected `now`, so tests move a clock instead of
sleeping. Every refusal says which claim failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jwks_cache import Key
from service.issuers import Issuer
from service.oidc.envelope import Envelope
from service.oidc.jws import Compact, verify_signature
from service.publishers.base import INVALID_TOKEN, Claims, Refusal

REQUIRED = ("iss", "aud", "exp", "iat", "sub")
MAX_JTI = 256


def verify_token(envelope: Envelope, key: Key, issuer: Issuer, *, now: int) -> Claims | Refusal:
    """A CI provider's OIDC token, against that issuer's configuration."""
    alg = envelope.alg
    if alg not in issuer.algorithms:
        allowed = ", ".join(sorted(issuer.algorithms))
        return Refusal(INVALID_TOKEN, f"alg: expected one of {allowed}, got {alg[:20]!r}")
    claims = decode(
        envelope.compact,
        key,
        alg=alg,
        audience=issuer.audience,
        issuer=issuer.url,
        required=(*REQUIRED, "jti") if issuer.require_jti else REQUIRED,
    )
    if isinstance(claims, Refusal):
        return claims
    return check_times(claims, leeway=issuer.leeway, now=now)


def decode(
    compact: Compact, key: Key, *, alg: str, audience: str, issuer: str, required: Sequence[str]
) -> dict[str, Any] | Refusal:
    """Signature, `aud` (one string, exactly), `iss`, and the presence of `required` claims."""
    refusal = verify_signature(compact, key, alg)
    if refusal is not None:
        return refusal
    claims = compact.claims
    for name in required:
        if name not in claims:
            return Refusal(INVALID_TOKEN, f"{name}: required claim is missing")
    if claims.get("aud") != audience:
        return Refusal(INVALID_TOKEN, f"aud: expected {audience!r} (a single string)")
    if claims.get("iss") != issuer:
        return Refusal(INVALID_TOKEN, f"iss: expected {issuer!r}")
    if "sub" in claims and not (isinstance(claims["sub"], str) and claims["sub"]):
        return Refusal(INVALID_TOKEN, "sub: expected a non-empty string")
    jti = claims.get("jti", "absent")
    if not (isinstance(jti, str) and 0 < len(jti) <= MAX_JTI):
        return Refusal(
            INVALID_TOKEN, f"jti: expected a non-empty string of at most {MAX_JTI} characters"
        )
    return claims


def check_times(claims: dict[str, Any], *, leeway: int, now: float) -> dict[str, Any] | Refusal:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (not isinstance(value, int) or isinstance(value, bool)):
            return Refusal(INVALID_TOKEN, f"{name}: expected a whole number of seconds")
    if claims["exp"] + leeway <= now:
        return Refusal(INVALID_TOKEN, "exp: token has expired")
    if "iat" in claims and claims["iat"] - leeway > now:
        return Refusal(INVALID_TOKEN, "iat: token is issued in the future")
    if "nbf" in claims and claims["nbf"] - leeway > now:
        return Refusal(INVALID_TOKEN, "nbf: token is not yet valid")
    return claims
