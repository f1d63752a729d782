"""The outside of a JWT, read before any key is fetched or any signature checked.

Everything here is unverified and treated as hostile: it only decides which
issuer's keys to ask for, and refuses what is malformed or too big before any
crypto or network work is spent on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.oidc.jws import Compact, parse
from service.publishers.base import INVALID_TOKEN, Refusal

MAX_TOKEN_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class Envelope:
    token: str
    alg: str
    kid: str
    issuer: str
    compact: Compact


def open_envelope(token: str) -> Envelope | Refusal:
    if len(token) > MAX_TOKEN_BYTES:
        return Refusal(INVALID_TOKEN, f"token is larger than {MAX_TOKEN_BYTES} bytes")
    if not token.isascii():
        return Refusal(INVALID_TOKEN, "token is not a compact JWT (non-ASCII characters)")
    compact = parse(token)
    if isinstance(compact, Refusal):
        return compact
    alg = compact.header.get("alg")
    if not isinstance(alg, str) or not alg:
        return Refusal(INVALID_TOKEN, "token header has no alg")
    kid = compact.header.get("kid")
    if not isinstance(kid, str) or not kid:
        # Without a kid we would have to try every key: refuse instead.
        return Refusal(INVALID_TOKEN, "token header has no kid")
    issuer = compact.claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        return Refusal(INVALID_TOKEN, "token has no iss claim")
    return Envelope(token=token, alg=alg, kid=kid, issuer=issuer, compact=compact)
