"""Revoked token ids, kept until the token would have expired anyway.

Consulted by the verifier and the upload gateway. A store that cannot answer
makes them refuse (fail closed), never accept.
"""

from __future__ import annotations

from typing import Protocol


class RevocationUnavailable(Exception):
    """The store cannot tell whether a token id is revoked."""


class RevocationStore(Protocol):
    async def revoke(self, token_id: str, *, until: int) -> None:
        """Remember `token_id` as revoked until the unix time `until` (its expiry)."""
        ...

    async def is_revoked(self, token_id: str) -> bool:
        """Raises RevocationUnavailable when the answer cannot be known."""
        ...
