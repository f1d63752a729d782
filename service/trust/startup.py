"""MINTGATE_PUBLISHERS_FILE on the database trust source: configuration as code.

The file is read and checked when the app is built (a bad file stops start-up,
naming the file, the table and the key), then applied into the database by
`publishers sync`'s own code before the first answer: at start-up by the app's
lifespan, retried until it succeeds, and by the first mint if that comes sooner.
Until it has been applied the exchange answers 503, never from a database the
file has not reached. Every replica applies the same file; the sync is one
transaction that changes nothing the second time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from service.publishers.base import Refusal
from service.trust import Trusted, TrustUnavailable
from service.trust.index import SourceStore

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class FileApplied:
    """A trust store that first applies the publishers file, once, to the store behind it."""

    def __init__(self, inner: SourceStore, apply: Callable[[], Awaitable[None]]) -> None:
        self.inner = inner
        self.apply = apply
        self.applied = False
        self._applying: asyncio.Task[bool] | None = None

    async def ensure(self) -> None:
        """Apply the file unless it was; raise TrustUnavailable when that fails now."""
        if self.applied:
            return
        if self._applying is None or self._applying.done():
            self._applying = asyncio.create_task(self._apply())
        if not await asyncio.shield(self._applying):
            raise TrustUnavailable("the publishers file is not applied yet")

    async def keep_trying(self) -> None:
        """The lifespan's task: apply the file, retrying every second until it is."""
        while True:
            try:
                await self.ensure()
            except TrustUnavailable:
                await asyncio.sleep(RETRY_SECONDS)
            else:
                return

    async def aclose(self) -> None:
        if self._applying is not None:
            await asyncio.gather(self._applying, return_exceptions=True)

    async def _apply(self) -> bool:
        try:
            await self.apply()
        except Exception as exc:  # the database, or another replica's racing insert
            log.warning("publishers file not applied yet: %s", type(exc).__name__, exc_info=True)
            return False
        self.applied = True
        return True

    async def publishers_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        await self.ensure()
        return await self.inner.publishers_for(issuer, lookup_key)

    async def frozen_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        await self.ensure()
        return await self.inner.frozen_for(issuer, lookup_key)

    async def pin_repository_id(self, trusted: Trusted, repository_id: str) -> Refusal | None:
        return await self.inner.pin_repository_id(trusted, repository_id)
