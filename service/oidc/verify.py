"""Signature and registered claims of a JWT: CI tokens here, minted tokens in `verifier`.

PyJWT checks the signature, the algorithm and `aud`/`iss`; the times are
checked here against an injected `now`, so tests move a clock instead of
sleeping, and every refusal says which claim failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jwt

from jwks_cache import Key
from service.issuers import Issuer
from service.publishers.base import INVALID_TOKEN, Claims, Refusal

REQUIRED = ("iss", "aud", "exp", "iat", "sub")

# Which key types may verify which algorithm family: a token whose alg does not
# fit the key is refused before PyJWT sees it (algorithm confusion).
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def verify_token(token: str, alg: str, key: Key, issuer: Issuer, *, now: int) -> Claims | Refusal:
    """A CI provider's OIDC token, against that issuer's configuration."""
    if alg not in issuer.algorithms:
        allowed = ", ".join(sorted(issuer.algorithms))
        return Refusal(INVALID_TOKEN, f"alg: expected one of {allowed}, got {alg[:20]!r}")
    claims = decode(
        token,
        key,
        alg=alg,
        audience=issuer.audience,
        issuer=issuer.url,
        required=(*REQUIRED, "jti") if issuer.require_jti else REQUIRED,
    )
    if isinstance(claims, Refusal):
        return claims
    # Absent only where the issuer is configured not to require it (decode enforced that).
    jti = claims.get("jti")
    if "jti" in claims and (not isinstance(jti, str) or not jti or len(jti) > 256):
        return Refusal(INVALID_TOKEN, "jti: expected a non-empty string of at most 256 characters")
    return check_times(claims, leeway=issuer.leeway, now=now)


def decode(
    token: str, key: Key, *, alg: str, audience: str, issuer: str, required: Sequence[str]
) -> dict[str, Any] | Refusal:
    """Signature, `aud` (one string, exactly), `iss`, and the presence of `required` claims."""
    if KEY_TYPES.get(alg[:2]) != key.kty or (key.alg is not None and key.alg != alg):
        return Refusal(INVALID_TOKEN, f"alg {alg[:20]!r} does not fit key {key.kid[:64]!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=audience,
            issuer=issuer,
            options={
                "require": list(required),
                "strict_aud": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        return Refusal(INVALID_TOKEN, f"{exc.claim}: required claim is missing")
    except jwt.InvalidAudienceError:
        return Refusal(INVALID_TOKEN, f"aud: expected {audience!r} (a single string)")
    except jwt.InvalidIssuerError:
        return Refusal(INVALID_TOKEN, f"iss: expected {issuer!r}")
    except jwt.exceptions.InvalidJTIError:
        return Refusal(INVALID_TOKEN, "jti: expected a non-empty string")
    except jwt.exceptions.InvalidSubjectError:
        return Refusal(INVALID_TOKEN, "sub: expected a non-empty string")
    except jwt.InvalidSignatureError:
        return Refusal(INVALID_TOKEN, "signature does not verify")
    except jwt.PyJWTError as exc:
        # PyJWT's messages describe the check, never the token; keep them short anyway.
        return Refusal(INVALID_TOKEN, f"token does not verify: {str(exc)[:200]}")
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
