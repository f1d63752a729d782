"""Trusted publishers in memory, kept current by the database's change feed (issue 19).

A mint asks one question, publishers for (issuer, lookup key), and the answer
changes only when an owner or the operator changes trust: so each process keeps
the answers it has been asked for (the hot keys, up to `max_keys`, least recently
used out first) and follows the feed that migration 0012's triggers write.

The rule that makes this safe: an answer is served from memory only while a poll
of the feed that *began* less than `bound` seconds ago succeeded. Such a poll saw
every change committed before it began, and dropped those keys; so no answer is
older than `bound` seconds, removals included. When the feed cannot be read
(database down, the follower stalled) the index asks the store directly, which
is current or raises TrustUnavailable (503): never stale trust.

Why hot keys and not every publisher: a publisher's answer is a few Python objects
(about 1 KB, bench/trust_bench.py measures it), so a million would cost about a
gigabyte in every worker, and most repositories publish rarely. A miss is one indexed
lookup, as every mint paid before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache

from service.publishers.base import Refusal
from service.store.records_publishing import TrustFeed
from service.trust import FrozenTrust, Trusted, TrustStore, TrustUnavailable

log = logging.getLogger(__name__)

# Changes listed per poll; more than this since the last one and everything is dropped.
FEED_LIMIT = 10_000


class FeedReader(Protocol):
    async def read(self, since: int, *, limit: int) -> TrustFeed:
        """Raises TrustUnavailable when the store cannot answer."""
        ...


class SourceStore(TrustStore, FrozenTrust, Protocol):
    pass


Key = tuple[str, str]


@dataclass
class IndexStats:
    """Plain counts of the index's work, read at scrape time (service.observability.metrics):
    a mint pays an integer increment, not a Prometheus update."""

    memory: int = 0  # lookups answered from memory
    # lookups of a key not held: loaded (kept unless a poll saw a change), or joined to a
    # load of it under way
    loads: int = 0
    direct: int = 0  # lookups the store answered because the feed was not known current
    polls: int = 0  # polls of the change feed that succeeded
    poll_failures: int = 0  # polls that failed or were abandoned


class TrustIndex:
    """A TrustStore in front of the database's: memory while the feed is known current."""

    def __init__(
        self,
        source: SourceStore,
        feed: FeedReader,
        *,
        bound: float = 1.0,
        interval: float = 0.2,
        max_keys: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
        poll_within: float | None = None,
    ) -> None:
        if not 0 < interval < bound:
            raise ValueError("the poll interval must be shorter than the bound")
        self.source = source
        self.feed = feed
        self.bound = bound
        self.interval = interval
        # A poll still running after the bound could not make the index current anyway;
        # abandoned, it frees the requests waiting on it (a connection that went silent,
        # say, in a failover that sent no reset), and the feed drops that connection.
        self.poll_within = bound if poll_within is None else poll_within
        self.monotonic = monotonic
        self._answers: LRUCache[Key, tuple[Trusted, ...]] = LRUCache(maxsize=max_keys)
        self._seen: int | None = None  # the feed version the answers reflect
        self._current_since: float | None = None  # start of the last poll that succeeded
        self._epoch = 0  # bumped by every poll that saw a change: loads overlapping it are dropped
        self._poll: asyncio.Task[None] | None = None
        # Loads under way, by key, with the epoch each began in.
        self._loading: dict[Key, tuple[int, asyncio.Future[tuple[Trusted, ...]]]] = {}
        self.stats = IndexStats()

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def followed(self) -> bool:
        """A poll has succeeded since start-up (it stays so through later outages)."""
        return self._seen is not None

    @property
    def current(self) -> bool:
        since = self._current_since
        return since is not None and self.monotonic() - since < self.bound

    async def publishers_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        if not self.current:
            # The follower is not running or not keeping up: one poll, shared by every
            # request waiting here; if it fails too, the store answers or raises.
            await self._polled()
            if not self.current:
                self.stats.direct += 1
                return tuple(await self.source.publishers_for(issuer, lookup_key))
        key = (issuer, lookup_key)
        found = self._answers.get(key)
        if found is not None:
            self.stats.memory += 1
            return found
        self.stats.loads += 1
        loading = self._loading.get(key)
        if loading is None or loading[0] != self._epoch:
            # A load begun before the last change was seen may have read trust that is
            # gone: it is joined only within its own epoch, as if it had finished and been
            # kept, so a cold key costs one query however many mints wait for it.
            loading = (self._epoch, asyncio.ensure_future(self._load(key, self._epoch)))
            self._loading[key] = loading
        # Shielded: a request that gives up does not cancel the load others wait on.
        return await asyncio.shield(loading[1])

    async def _load(self, key: Key, epoch: int) -> tuple[Trusted, ...]:
        try:
            found = tuple(await self.source.publishers_for(*key))
        finally:
            under_way = self._loading.get(key)
            if under_way is not None and under_way[0] == epoch:  # not a later load's
                del self._loading[key]
        if epoch == self._epoch:
            # No poll saw a change while this load ran: it cannot be older than the poll
            # that made the index current.
            self._answers[key] = found
        return found

    async def frozen_for(self, issuer: str, lookup_key: str) -> Sequence[Trusted]:
        # Asked only when nothing matched, to say why: not worth caching.
        return await self.source.frozen_for(issuer, lookup_key)

    async def pin_repository_id(self, trusted: Trusted, repository_id: str) -> Refusal | None:
        refused = await self.source.pin_repository_id(trusted, repository_id)
        # Its next mint checks the pin in the publisher instead of writing it again.
        self.forget(trusted.publisher.issuer, trusted.publisher.lookup_key)
        return refused

    def forget(self, issuer: str, lookup_key: str) -> None:
        """A change this process just committed: reload the key now, not at the next poll.

        The feed brings the change to every other process; this one need not wait for it.
        """
        self._answers.pop((issuer, lookup_key), None)
        self._epoch += 1

    async def caught_up(self) -> None:
        """Return once a poll that began after this call has succeeded (or raise).

        For tests and start-up: what was committed before the call is now reflected.
        """
        await self._polled()  # one already under way may have begun before the call
        await self._polled()
        if not self.current:
            raise TrustUnavailable("the trust change feed cannot be read")

    async def follow(self) -> None:
        """Poll every `interval` until cancelled (the app's lifespan runs it)."""
        while True:
            await self._polled()
            await asyncio.sleep(self.interval)

    async def aclose(self) -> None:
        """Wait out a poll and the loads under way, so nothing reads the store after it
        closes (a load goes on when the request that began it gives up)."""
        pending: list[Awaitable[object]] = [f for _, f in self._loading.values()]
        if self._poll is not None:
            pending.append(self._poll)
        await asyncio.gather(*pending, return_exceptions=True)

    async def _polled(self) -> None:
        if self._poll is None or self._poll.done():
            self._poll = asyncio.create_task(self._poll_once())
        # Shielded: a request that gives up does not cancel the poll others wait on.
        await asyncio.shield(self._poll)

    async def _poll_once(self) -> None:
        started = self.monotonic()
        since = self._seen if self._seen is not None else 0
        try:
            async with asyncio.timeout(self.poll_within):
                feed = await self.feed.read(since, limit=FEED_LIMIT)
        except (TrustUnavailable, TimeoutError):
            # Never raised out of the task: its waiters read `current` instead.
            log.warning("trust change feed unavailable: answering from the store")
            self.stats.poll_failures += 1
            self._current_since = None
            return
        self._apply(feed)
        self.stats.polls += 1
        self._current_since = started

    def _apply(self, feed: TrustFeed) -> None:
        seen = self._seen
        if seen is None or feed.version < seen or feed.trimmed_through > seen or feed.truncated:
            # First poll, a database that went back (restored), or changes we can no
            # longer list: nothing held may be trusted.
            self._answers.clear()
        else:
            for key in feed.keys:
                self._answers.pop(key, None)
        if feed.version != seen:
            self._epoch += 1
        self._seen = feed.version
