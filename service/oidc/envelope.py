"""The outside of a JWT, read before any key is fetched or any signature checked.

Everything here is unverified and treated as hostile: it only decides which
issuer's keys to ask for, and refuses what is malformed or too big before any
crypto or network work is spent on it.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from service.publishers.base import INVALID_TOKEN, Refusal

MAX_TOKEN_BYTES = 8 * 1024


@dataclass(frozen=True, slots=True)
class Envelope:
    token: str
    alg: str
    kid: str
    issuer: str


def open_envelope(token: str) -> Envelope | Refusal:
    if len(token) > MAX_TOKEN_BYTES:
        return Refusal(INVALID_TOKEN, f"token is larger than {MAX_TOKEN_BYTES} bytes")
    if not token.isascii():
        return Refusal(INVALID_TOKEN, "token is not a compact JWT (non-ASCII characters)")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return Refusal(INVALID_TOKEN, "token is not a compact JWT (expected three parts)")
    header = _segment(parts[0])
    payload = _segment(parts[1])
    if header is None:
        return Refusal(INVALID_TOKEN, "token header is not base64url-encoded JSON object")
    if payload is None:
        return Refusal(INVALID_TOKEN, "token payload is not base64url-encoded JSON object")
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        return Refusal(INVALID_TOKEN, "token header has no alg")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        # Without a kid we would have to try every key: refuse instead.
        return Refusal(INVALID_TOKEN, "token header has no kid")
    issuer = payload.get("iss")
    if not isinstance(issuer, str) or not issuer:
        return Refusal(INVALID_TOKEN, "token has no iss claim")
    return Envelope(token=token, alg=alg, kid=kid, issuer=issuer)


def _segment(segment: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None
