"""The trust index: answers from memory only while the change feed is known current."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from publishingkit import table

from service.issuers import Issuers
from service.publishers.base import Refusal
from service.store import SqlStore
from service.store.records_publishing import TrustFeed
from service.trust import Trusted, TrustUnavailable
from service.trust.index import TrustIndex
from service.trust.sql import SqlTrustFeed, SqlTrustStore
from service.trust.tables import publisher_spec

pytestmark = pytest.mark.anyio

NOW = datetime(2027, 1, 15, tzinfo=UTC)
ISSUER = "https://token.actions.githubusercontent.com"
KEY = "octo-org/sampleproject"


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """The store's trust answers, counted; a test can hold a load open or break it."""

    def __init__(self, inner: SqlTrustStore) -> None:
        self.inner = inner
        self.loads = 0
        self.broken = False
        self.hold: asyncio.Event | None = None
        self.loading = asyncio.Event()

    async def publishers_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        if self.broken:
            raise TrustUnavailable("down")
        self.loads += 1
        found = await self.inner.publishers_for(issuer, lookup_key)
        if self.hold is not None:
            self.loading.set()
            await self.hold.wait()
        return found

    async def frozen_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        return await self.inner.frozen_for(issuer, lookup_key)

    async def pin_repository_id(self, trusted: Trusted, repository_id: str) -> Refusal | None:
        return await self.inner.pin_repository_id(trusted, repository_id)


class Feed:
    def __init__(self, inner: SqlTrustFeed) -> None:
        self.inner = inner
        self.broken = False
        self.replace: TrustFeed | None = None

    async def read(self, since: int, *, limit: int) -> TrustFeed:
        if self.broken:
            raise TrustUnavailable("down")
        if self.replace is not None:
            return self.replace
        return await self.inner.read(since, limit=limit)


@pytest.fixture
def clock() -> Monotonic:  # type: ignore[override]
    return Monotonic()


@pytest.fixture
def parts(store: SqlStore, issuers: Issuers) -> tuple[Counting, Feed]:
    return Counting(SqlTrustStore(store, issuers)), Feed(SqlTrustFeed(store))


@pytest.fixture
def index(parts: tuple[Counting, Feed], clock: Monotonic) -> TrustIndex:
    return TrustIndex(parts[0], parts[1], monotonic=clock)


async def add(store: SqlStore, issuers: Issuers, **kw: Any) -> int:
    _, spec = publisher_spec(table(**kw), issuers)
    async with store.transaction() as tx:
        found = await tx.project_by_name("sampleproject")
        if found is None:
            found = await tx.add_project("sampleproject", "sampleproject", NOW)
        return (await tx.add_publisher(found.id, spec, source="api", created_by=None, now=NOW)).id


async def remove(store: SqlStore, publisher_id: int) -> None:
    async with store.transaction() as tx:
        found = await tx.project_by_name("sampleproject")
        assert found is not None
        assert await tx.delete_publisher(found.id, publisher_id)


async def test_a_second_lookup_is_answered_from_memory(
    index: TrustIndex, parts: tuple[Counting, Feed], store: SqlStore, issuers: Issuers
) -> None:
    await add(store, issuers)
    first = await index.publishers_for(ISSUER, KEY)
    second = await index.publishers_for(ISSUER, KEY)
    assert [t.project for t in second] == ["sampleproject"]
    assert second is first
    assert parts[0].loads == 1


async def test_an_unknown_key_is_remembered_until_a_publisher_is_added(
    index: TrustIndex, parts: tuple[Counting, Feed], store: SqlStore, issuers: Issuers
) -> None:
    assert await index.publishers_for(ISSUER, KEY) == ()
    assert await index.publishers_for(ISSUER, KEY) == ()
    assert parts[0].loads == 1
    await add(store, issuers)
    await index.caught_up()
    assert [t.project for t in await index.publishers_for(ISSUER, KEY)] == ["sampleproject"]


async def test_a_removal_is_seen_by_the_next_poll(
    index: TrustIndex, store: SqlStore, issuers: Issuers
) -> None:
    publisher = await add(store, issuers)
    assert await index.publishers_for(ISSUER, KEY)
    await remove(store, publisher)
    await index.caught_up()
    assert await index.publishers_for(ISSUER, KEY) == ()


async def test_past_the_bound_without_a_poll_the_store_answers(
    index: TrustIndex,
    parts: tuple[Counting, Feed],
    clock: Monotonic,
    store: SqlStore,
    issuers: Issuers,
) -> None:
    publisher = await add(store, issuers)
    assert await index.publishers_for(ISSUER, KEY)
    await remove(store, publisher)
    parts[1].broken = True  # the feed is lost: the removal cannot be learnt from it
    clock.now += index.bound
    assert await index.publishers_for(ISSUER, KEY) == ()
    assert index.stats.direct == 1


async def test_feed_and_store_both_down_is_unavailable_never_stale(
    index: TrustIndex,
    parts: tuple[Counting, Feed],
    clock: Monotonic,
    store: SqlStore,
    issuers: Issuers,
) -> None:
    await add(store, issuers)
    assert await index.publishers_for(ISSUER, KEY)
    parts[0].broken = parts[1].broken = True
    # Within the bound the last poll still vouches for what is held...
    clock.now += index.bound / 2
    assert await index.publishers_for(ISSUER, KEY)
    # ...and not one moment after.
    clock.now += index.bound / 2
    with pytest.raises(TrustUnavailable):
        await index.publishers_for(ISSUER, KEY)


async def test_a_load_that_overlaps_a_change_is_not_kept(
    index: TrustIndex, parts: tuple[Counting, Feed], store: SqlStore, issuers: Issuers
) -> None:
    publisher = await add(store, issuers)
    await index.caught_up()
    source = parts[0]
    source.hold = asyncio.Event()
    slow = asyncio.create_task(index.publishers_for(ISSUER, KEY))
    await source.loading.wait()  # it read the publisher; the removal lands after
    await remove(store, publisher)
    await index.caught_up()
    source.hold.set()
    assert await slow  # the answer it read, for the request that asked
    source.hold = None
    assert await index.publishers_for(ISSUER, KEY) == ()  # but never kept
    assert source.loads == 2


async def held_load(
    index: TrustIndex, source: Counting, store: SqlStore, issuers: Issuers
) -> tuple[int, asyncio.Event, asyncio.Task[Sequence[Trusted]]]:
    """A publisher, the index current, and a lookup whose load has read it and now waits
    for the event."""
    publisher = await add(store, issuers)
    await index.caught_up()
    held = source.hold = asyncio.Event()
    request = asyncio.create_task(index.publishers_for(ISSUER, KEY))
    await source.loading.wait()
    return publisher, held, request


async def test_concurrent_lookups_of_a_cold_key_share_one_load(
    index: TrustIndex, parts: tuple[Counting, Feed], store: SqlStore, issuers: Issuers
) -> None:
    source = parts[0]
    _, held, first = await held_load(index, source, store, issuers)
    others = [asyncio.create_task(index.publishers_for(ISSUER, KEY)) for _ in range(3)]
    await asyncio.sleep(0)  # each has asked, and found the load under way
    first.cancel()  # the request that began the load gives up; the load goes on
    held.set()
    answers = await asyncio.gather(*others)
    assert all([t.project for t in found] == ["sampleproject"] for found in answers)
    assert source.loads == 1
    assert first.cancelled()


async def test_closing_waits_for_a_load_its_request_gave_up_on(
    index: TrustIndex, parts: tuple[Counting, Feed], store: SqlStore, issuers: Issuers
) -> None:
    _, held, request = await held_load(index, parts[0], store, issuers)
    request.cancel()
    closing = asyncio.create_task(index.aclose())
    for _ in range(20):  # turns of the loop, not time: it waits for the load, not a clock
        await asyncio.sleep(0)
    assert not closing.done()  # the load still reads the store
    held.set()
    async with asyncio.timeout(10):
        await closing
    assert len(index) == 1  # it finished, and was kept


async def test_a_load_begun_before_a_change_is_not_joined_after_it(
    index: TrustIndex, parts: tuple[Counting, Feed], store: SqlStore, issuers: Issuers
) -> None:
    source = parts[0]
    publisher, held, slow = await held_load(index, source, store, issuers)
    await remove(store, publisher)  # after the slow load read it
    await index.caught_up()
    source.hold = None  # the next load answers at once
    async with asyncio.timeout(10):  # joined to the slow load, it would wait for ever
        assert await index.publishers_for(ISSUER, KEY) == ()  # its own load
    assert source.loads == 2
    held.set()
    assert await slow  # the answer it read, for the request that asked
    assert await index.publishers_for(ISSUER, KEY) == ()  # and the newer answer is kept
    assert source.loads == 2


@pytest.mark.parametrize(
    "feed",
    [
        TrustFeed(version=10**6, trimmed_through=10**6, keys=()),
        TrustFeed(version=0, trimmed_through=0, keys=()),
        TrustFeed(version=10**6, trimmed_through=0, keys=(), truncated=True),
    ],
    ids=["trimmed-past-us", "database-went-back", "truncated"],
)
async def test_a_feed_that_cannot_say_what_changed_drops_everything(
    feed: TrustFeed,
    index: TrustIndex,
    parts: tuple[Counting, Feed],
    store: SqlStore,
    issuers: Issuers,
) -> None:
    await add(store, issuers)
    await add(store, issuers, repository="octo-org/other")  # "went back" to 0 is below 2
    assert await index.publishers_for(ISSUER, KEY)
    parts[1].replace = feed
    await index.caught_up()
    assert len(index) == 0


async def test_concurrent_misses_after_the_bound_share_one_poll(
    index: TrustIndex, clock: Monotonic, store: SqlStore, issuers: Issuers
) -> None:
    await add(store, issuers)
    await index.caught_up()
    clock.now += index.bound
    polls = 0
    read = index.feed.read

    async def counted(since: int, *, limit: int) -> TrustFeed:
        nonlocal polls
        polls += 1
        return await read(since, limit=limit)

    index.feed.read = counted  # type: ignore[method-assign]
    await asyncio.gather(*(index.publishers_for(ISSUER, KEY) for _ in range(10)))
    assert polls == 1


async def test_a_change_this_process_made_is_reloaded_without_waiting_for_a_poll(
    index: TrustIndex, parts: tuple[Counting, Feed], store: SqlStore, issuers: Issuers
) -> None:
    """A reify or a pin committed here: the index forgets the key, no poll needed."""
    assert await index.publishers_for(ISSUER, KEY) == ()
    await add(store, issuers)
    parts[1].broken = True  # no poll can tell it; the bound has not passed either
    assert await index.publishers_for(ISSUER, KEY) == ()
    index.forget(ISSUER, KEY)
    assert [t.project for t in await index.publishers_for(ISSUER, KEY)] == ["sampleproject"]


class Silent:
    """A feed whose read never answers, as over a connection that went silent."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def read(self, since: int, *, limit: int) -> TrustFeed:
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled.set()
        raise AssertionError("unreachable")


async def test_a_poll_that_never_answers_is_abandoned_and_the_store_answers(
    store: SqlStore, issuers: Issuers, clock: Monotonic
) -> None:
    """Requests waiting on the shared poll would otherwise wait as long as it does."""
    feed = Silent()
    counting = Counting(SqlTrustStore(store, issuers))
    index = TrustIndex(counting, feed, monotonic=clock, poll_within=0.01)
    await add(store, issuers)
    async with asyncio.timeout(10):  # a failure, not a hung suite
        found = await index.publishers_for(ISSUER, KEY)
    assert [t.project for t in found] == ["sampleproject"]
    assert feed.cancelled.is_set()
    assert index.stats.direct == 1
    assert not index.current
