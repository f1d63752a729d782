"""A Store opened on first use, and database failures as StoreError.

The app serves the mint path without any database, so it must not need one to
start: a PostgreSQL outage or a pending migration then takes down only the
account API (503, retried on the next request), never token minting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.store.base import Store, StoreError, Transaction
from service.store.records_publishing import TrustFeed

# What a database that is down, cut off or saturated raises: driver errors, sockets
# (refused, reset, timed out), a pool with no connection to give within its timeout.
# Any other SQLAlchemy error is a bug and stays a 500.
UNAVAILABLE = (DBAPIError, OSError, DisconnectionError, PoolTimeout)


# After a failed open, callers within this long fail at once instead of each trying
# again: behind a database that never answers, a burst would otherwise queue on the
# lock and wait one connect timeout each, the last one for all of them.
RETRY_OPEN_AFTER = 1.0


class LazyStore:
    def __init__(
        self,
        opener: Callable[[], Awaitable[Store]],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._opener = opener
        self._monotonic = monotonic
        self._store: Store | None = None
        self._lock = asyncio.Lock()
        self._failed_at: float | None = None

    async def _opened(self) -> Store:
        if self._store is None:
            async with self._lock:  # single flight: one migration, one engine
                if self._store is None:
                    failed = self._failed_at
                    if failed is not None and self._monotonic() - failed < RETRY_OPEN_AFTER:
                        raise StoreError("database unavailable (the last attempt just failed)")
                    try:
                        self._store = await self._opener()
                    except (*UNAVAILABLE, StoreError):
                        self._failed_at = self._monotonic()
                        raise
        return self._store

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        with _as_store_error():
            store = await self._opened()
            async with store.transaction() as tx:
                yield tx

    async def read_trust_feed(self, since: int, *, limit: int) -> TrustFeed:
        with _as_store_error():
            store = await self._opened()
            return await store.read_trust_feed(since, limit=limit)

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None


@contextmanager
def _as_store_error() -> Iterator[None]:
    try:
        yield
    except UNAVAILABLE as exc:
        # The driver's message can quote SQL and parameters: only the kind goes on.
        raise StoreError(f"database error ({type(exc).__name__})") from exc
