"""Decode an API token without verifying it: its blocks as Datalog, never its signatures.

For `mintgate token inspect`: a person wants to see which projects and expiry
a token (and each block appended to it) allows. Nothing here may be trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from biscuit_auth import BiscuitBlockError, BiscuitValidationError, UnverifiedBiscuit

from service.apitokens.format import PREFIX, unwrap
from service.minting.tokens import CHECKSUM_LENGTH

# Bounds what a crafted token can make the inspector print.
MAX_BLOCKS = 32
_EXPIRY = re.compile(r"\$t < (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d))")


@dataclass(frozen=True, slots=True)
class Statement:
    kind: str  # "fact", "rule" or "check"
    text: str
    expires: str | None = None  # the RFC 3339 time an expiry check names


@dataclass(frozen=True, slots=True)
class DecodedApiToken:
    checksum_ok: bool
    blocks: tuple[tuple[Statement, ...], ...]


def decode(token: str) -> DecodedApiToken | str:
    """The token's blocks, or why it is not an API token. Never echoes the input."""
    if not token.startswith(PREFIX):
        return f"not a mintgate API token: they start with {PREFIX!r}"
    body, sep, check = token[len(PREFIX) :].rpartition("_")
    if not sep or len(check) != CHECKSUM_LENGTH:
        body = token[len(PREFIX) :]
    try:
        biscuit = UnverifiedBiscuit.from_base64(body + "=" * (-len(body) % 4))
        count = biscuit.block_count()
        if count > MAX_BLOCKS:
            return f"not a mintgate API token: {count} blocks (more than {MAX_BLOCKS})"
        blocks = tuple(_statements(biscuit.block_source(i)) for i in range(count))
    except (BiscuitValidationError, BiscuitBlockError):
        return "not a mintgate API token: its biscuit does not decode (truncated or altered?)"
    return DecodedApiToken(unwrap(token) is not None, blocks)


def _statements(source: str) -> tuple[Statement, ...]:
    out = []
    for line in source.splitlines():
        text = line.strip().removesuffix(";")
        if not text:
            continue
        if text.startswith(("check ", "reject ")):
            found = _EXPIRY.search(text)
            out.append(Statement("check", text, found.group(1) if found else None))
        else:
            out.append(Statement("rule" if "<-" in text else "fact", text))
    return tuple(out)
