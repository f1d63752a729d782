"""Signature and registered claims of an issuer's token.

PyJWT checks the signature, the algorithm against the issuer's allow-list and
`aud`; the times are checked here against an injected `now`, so tests move a
clock instead of sleeping, and every refusal says which claim failed.
"""

from __future__ import annotations

from typing import Any

import jwt

from jwks_cache import Key
from service.issuers import Issuer
from service.publishers.base import INVALID_TOKEN, Claims, Refusal

REQUIRED = ("iss", "aud", "exp", "iat", "sub", "jti")

# Which key types may verify which algorithm family: a token whose alg does not
# fit the key is refused before PyJWT sees it (algorithm confusion).
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def verify_token(token: str, alg: str, key: Key, issuer: Issuer, *, now: int) -> Claims | Refusal:
    if alg not in issuer.algorithms:
        allowed = ", ".join(sorted(issuer.algorithms))
        return Refusal(INVALID_TOKEN, f"alg: expected one of {allowed}, got {alg[:20]!r}")
    if KEY_TYPES.get(alg[:2]) != key.kty or (key.alg is not None and key.alg != alg):
        return Refusal(INVALID_TOKEN, f"alg {alg!r} does not fit key {key.kid[:64]!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=issuer.audience,
            issuer=issuer.url,
            options={
                "require": list(REQUIRED),
                "strict_aud": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        return Refusal(INVALID_TOKEN, f"{exc.claim}: required claim is missing")
    except jwt.InvalidAudienceError:
        return Refusal(INVALID_TOKEN, f"aud: expected {issuer.audience!r} (a single string)")
    except jwt.exceptions.InvalidJTIError:
        return Refusal(INVALID_TOKEN, "jti: expected a non-empty string")
    except jwt.exceptions.InvalidSubjectError:
        return Refusal(INVALID_TOKEN, "sub: expected a non-empty string")
    except jwt.InvalidSignatureError:
        return Refusal(INVALID_TOKEN, "signature does not verify")
    except jwt.PyJWTError as exc:
        return Refusal(INVALID_TOKEN, f"token does not verify: {_reason(exc)}")
    return _check_times(claims, issuer.leeway, now)


def _check_times(claims: dict[str, Any], leeway: int, now: int) -> Claims | Refusal:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (not isinstance(value, int) or isinstance(value, bool)):
            return Refusal(INVALID_TOKEN, f"{name}: expected a whole number of seconds")
    if claims["exp"] + leeway <= now:
        return Refusal(INVALID_TOKEN, "exp: token has expired")
    if claims["iat"] - leeway > now:
        return Refusal(INVALID_TOKEN, "iat: token is issued in the future")
    if "nbf" in claims and claims["nbf"] - leeway > now:
        return Refusal(INVALID_TOKEN, "nbf: token is not yet valid")
    if not isinstance(claims["jti"], str) or not claims["jti"] or len(claims["jti"]) > 256:
        return Refusal(INVALID_TOKEN, "jti: expected a non-empty string of at most 256 characters")
    return claims


def _reason(exc: jwt.PyJWTError) -> str:
    # PyJWT's messages describe the check, never the token; keep them short anyway.
    return str(exc)[:200] or type(exc).__name__
