"""Store wrappers that count unavailability and change nothing else (errors still raise)."""

from __future__ import annotations

from collections.abc import Callable

from service.revocation import RevocationStore, RevocationUnavailable


class CountedRevocations:
    """A RevocationStore whose failures also reach `unavailable("revocation")`."""

    def __init__(self, inner: RevocationStore, unavailable: Callable[[str], None]) -> None:
        self.inner = inner
        self._unavailable = unavailable

    async def revoke(self, token_id: str, *, until: int) -> None:
        try:
            await self.inner.revoke(token_id, until=until)
        except RevocationUnavailable:
            self._unavailable("revocation")
            raise

    async def is_revoked(self, token_id: str) -> bool:
        try:
            return await self.inner.is_revoked(token_id)
        except RevocationUnavailable:
            self._unavailable("revocation")
            raise
