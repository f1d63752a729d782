"""The serialised API token: `mgapi_` + biscuit (base64url, unpadded) + `_` + checksum.

Same shape as minted tokens (service/minting/tokens.py) with its own prefix, so
a secret scanner finds either kind with one rule and tells them apart, and the
six base62 characters of CRC32 let it (and the verifier) reject random text
offline before any signature work. Padding is dropped so the whole token is
one run of `[A-Za-z0-9_-]`, which scanners and double-click selection keep whole.
"""

from __future__ import annotations

import re
import secrets

from service.minting.tokens import CHECKSUM_LENGTH, checksum

PREFIX = "mgapi_"
# A bound on Datalog work and on what a holder can grow by appending blocks.
MAX_LENGTH = 8192
PATTERN = re.compile(
    rf"\b{PREFIX}[A-Za-z0-9_-]{{40,{MAX_LENGTH}}}_[0-9A-Za-z]{{{CHECKSUM_LENGTH}}}\b"
)


def serialize(biscuit_b64: str) -> str:
    body = biscuit_b64.rstrip("=")
    return f"{PREFIX}{body}_{checksum(body)}"


def unwrap(token: str) -> str | None:
    """The biscuit's base64url (padded again), or None when prefix, size or checksum is wrong."""
    if not token.startswith(PREFIX) or not len(PREFIX) + CHECKSUM_LENGTH + 2 <= len(token):
        return None
    if len(token) > MAX_LENGTH:
        return None
    body, sep, check = token[len(PREFIX) :].rpartition("_")
    if not sep or len(check) != CHECKSUM_LENGTH or not body.isascii():
        return None
    if not secrets.compare_digest(checksum(body), check):
        return None
    return body + "=" * (-len(body) % 4)
