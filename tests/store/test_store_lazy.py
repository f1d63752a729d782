"""The store opened on first use: a database that does not answer costs one attempt a second.

Attacker (or just a busy registry) during an outage: a burst of requests behind a
database that accepts no connection. Each used to queue on the open lock and make its
own attempt, one connect timeout each, so the last request of a burst waited for all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from service.store import StoreError
from service.store.lazy import RETRY_OPEN_AFTER, LazyStore

pytestmark = pytest.mark.anyio


class OpenedStore:
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        yield None

    async def close(self) -> None:
        pass


class Database:
    """Refuses connections until `up`; the first attempt waits for `answer`."""

    def __init__(self) -> None:
        self.up = False
        self.attempts = 0
        self.trying = asyncio.Event()
        self.answer = asyncio.Event()

    async def open(self) -> Any:
        self.attempts += 1
        self.trying.set()
        await self.answer.wait()
        if not self.up:
            raise ConnectionRefusedError("connect call failed")
        return OpenedStore()


async def test_a_burst_during_an_outage_makes_one_attempt_then_one_a_second() -> None:
    database, now = Database(), [100.0]
    store = LazyStore(database.open, monotonic=lambda: now[0])

    async def use() -> None:
        async with store.transaction():
            pass

    burst = [asyncio.create_task(use()) for _ in range(10)]
    await database.trying.wait()  # the first holds the lock, the other nine queue on it
    database.answer.set()
    outcomes = await asyncio.gather(*burst, return_exceptions=True)
    assert database.attempts == 1
    assert all(isinstance(o, StoreError) for o in outcomes), outcomes

    database.up = True
    with pytest.raises(StoreError):  # still within the pause: no attempt
        await use()
    assert database.attempts == 1
    now[0] += RETRY_OPEN_AFTER
    await use()  # the next one tries, and the database answers now
    assert database.attempts == 2


class FeedDown(OpenedStore):
    async def read_trust_feed(self, since: int, *, limit: int) -> Any:
        raise ConnectionResetError("the feed's connection was reset")


async def test_the_feed_read_opens_the_store_and_reports_an_outage_as_a_store_error() -> None:
    async def opener() -> Any:
        return FeedDown()

    with pytest.raises(StoreError, match=r"database error \(ConnectionResetError\)"):
        await LazyStore(opener).read_trust_feed(0, limit=10)
