"""The mint journal: a mint's record written in the replay claim's own round trip.

With Redis replay protection every mint already makes one round trip to claim its
OIDC token's jti. One Lua script makes that claim and appends the mint's record
(trust/records.py `MintEntry`) to a Redis stream, atomically: either both are
written or neither. The token is signed and answered only after that, so no token
leaves without its record, and the record is as durable as the claim that stops a
replay (the shipped deployments run Redis with an append-only file synced on every
write, deploy/README).

Each process writes the entries it recorded itself, from memory, into SQL: a batch
in one transaction (`RecordWriter`), then deletes them from the stream. So the audit
trail, `minted_tokens` and last use reach SQL about half a second (LINGER) after the
answer, and a mint costs no SQL round trip, and no read of the stream, of its own. The
stream is the crash-recovery log: entries still in it after `IDLE_MS` belong to a
process that died (or stopped while SQL was down) before it wrote them, and every
replica sweeps those into SQL every `SWEEP_EVERY`. Delivery is therefore at least
once: a sweep, and a pass after one that failed (it may have committed), write with
`again=True`, which skips jtis already in minted_tokens; and two writers racing on
one entry meet minted_tokens' unique key (migration 0015), so the loser retries and
skips it. An entry is written once.

Why not read the stream through a consumer group: reading back and parsing what
this process itself just wrote was half the drain's CPU, in the serving process.

Fail closed: when SQL is down the entries wait in Redis, and once `max_backlog` of
them wait the script refuses the claim, so the exchange answers 503 rather than
issue tokens nobody can trace. An entry SQL refuses (or that does not parse) is
moved to the `:rejected` stream and logged, never dropped.

Why not commit to SQL before answering (trust/records.py `SqlMintRecorder`, still
the path without Redis): that is a second round trip and a transaction on every
mint: 0.70x the file-only mint's throughput against about 0.9x with the journal
(BENCHMARKS.md, "Trust from the database").
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import redis.asyncio as aioredis
import redis.exceptions
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from service.minting.tokens import Planned
from service.publishers.base import Claims
from service.replay import ReplayUnavailable, replay_key
from service.store.base import Store, StoreError
from service.store.engine import is_sqlite
from service.trust import Trusted
from service.trust.records import (
    Fields,
    MintEntry,
    RecordUnavailable,
    RecordWriter,
    mint_fields,
    sql_refusal,
)

log = logging.getLogger(__name__)

FIELD: Final = b"e"
MAX_BACKLOG = 100_000
# Entries a transaction writes (and a sweep reads at a time). Large enough that a pass
# under load (LINGER's worth of mints: 1,000-2,000 at this machine's rates) is one
# transaction: each has a fixed cost in the serving process (a pool ping, BEGIN, COMMIT,
# a session) that at 512 was half of what the drain cost a mint.
BATCH = 4096
# An entry still in the stream this long after it was written: the process that wrote
# it is gone, or cannot reach SQL; a sweep writes it.
IDLE_MS = 30_000
SWEEP_EVERY = 10.0
# Entries a process keeps in memory for its own passes; beyond, the oldest are left to
# the sweep (SQL down a long time).
MAX_HELD = 20_000
# After a pass that wrote something, gather for this long before the next. A batch's
# fixed cost (about 2.7 ms of CPU here: seven round trips) then falls on hundreds of
# mints, where a record's own share is a few microseconds. SQL lags the answers by
# about this much.
LINGER = 0.5
MAX_BACKOFF = 5.0
CLOSE_WITHIN = 5.0

# KEYS[1]: the replay key, KEYS[2]: the journal. ARGV: expiry (unix seconds), the entry,
# the backlog bound. The entry's stream id: claimed and recorded; 0: already used;
# -1: backlog full.
_CLAIM_AND_RECORD = """
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EXAT', ARGV[1]) then return 0 end
return redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
"""

_UNAVAILABLE = (SQLAlchemyError, StoreError, OSError, redis.exceptions.RedisError)


class JournalObserver(Protocol):
    """Told what each pass did (service.observability.metrics.Metrics counts it)."""

    def journaled(self, outcome: str, count: int) -> None:
        """outcome: "written" (into SQL) or "rejected" (set aside in `:rejected`)."""

    def store_unavailable(self, store: str) -> None: ...

    def backlog(self, waiting: int) -> None:
        """The records in the stream, not yet in SQL, after a pass: a gauge to alert on
        before `max_backlog` of them make every mint a 503."""


class _Unobserved:
    def journaled(self, outcome: str, count: int) -> None:
        pass

    def backlog(self, waiting: int) -> None:
        pass

    def store_unavailable(self, store: str) -> None:
        pass


def journal_key(database_url: str) -> str:
    """One journal per database: the replicas that share a database drain one stream,
    and a stream is never drained into another database."""
    url = make_url(database_url)
    where = url.render_as_string(hide_password=True)
    if is_sqlite(url):
        # A SQLite file belongs to one host, and "./mintgate.sqlite3" names a different
        # file on each: two installs sharing a Redis must not drain into each other's.
        path = str(Path(url.database).resolve()) if url.database else ":memory:"
        where = f"sqlite:{socket.gethostname()}:{path}"
    return f"mintgate:mint-journal:{hashlib.sha256(where.encode()).hexdigest()[:16]}"


class RedisMintJournal:
    def __init__(
        self,
        client: aioredis.Redis,
        store: Store,
        *,
        key: str,
        clock: Callable[[], float] = time.time,
        max_backlog: int = MAX_BACKLOG,
        idle_ms: int = IDLE_MS,
        max_held: int = MAX_HELD,
        observer: JournalObserver | None = None,
    ) -> None:
        self._redis = client
        self.writer = RecordWriter(store)
        self.key = key
        self.rejected = f"{key}:rejected"
        self.clock = clock
        self.idle_ms = idle_ms
        self.max_held = max_held
        self.observer: JournalObserver = observer or _Unobserved()
        # Its SHA-1 is how Redis names a loaded script (EVALSHA), not a security measure.
        self._sha = hashlib.sha1(_CLAIM_AND_RECORD.encode(), usedforsecurity=False).hexdigest()
        # The arguments that never change, as the bytes redis-py would encode them into on
        # every call: packing the claim's command took about 9 us against 5.5 us with
        # these (redis-py's pack_command alone, this machine), the most of what the
        # command cost over the file source's SET.
        self._evalsha = (b"EVALSHA", self._sha.encode(), b"2")
        self._key = key.encode()
        self.max_backlog = max_backlog
        self._wake = asyncio.Event()
        # What this process recorded and has not yet written, by stream id, oldest first.
        # Held as plain tuples (records.py `Fields`): the collector stops tracking those,
        # and under load about LINGER seconds of mints wait here.
        self._held: dict[bytes | str, Fields] = {}
        # One pass at a time in a process: a pass and a sweep could otherwise write one
        # entry twice before either commits.
        self._passing = asyncio.Lock()
        # A batch that failed may have committed before it failed: it is written again
        # with the look-up.
        self._unsure = False

    @property
    def max_backlog(self) -> int:
        """Records that may wait for SQL before the claim is refused."""
        return int(self._backlog)

    @max_backlog.setter
    def max_backlog(self, value: int) -> None:
        self._backlog = str(value).encode()

    async def consume(
        self,
        issuer: str,
        jti: str,
        *,
        until: int,
        claims: Claims,
        used: Sequence[Trusted],
        minted: Planned,
    ) -> bool:
        """Claim the OIDC token's jti and record the mint, as one write: True when this
        was the token's first use. ReplayUnavailable when Redis cannot answer,
        RecordUnavailable when too many records already wait for SQL."""
        entry = mint_fields(issuer, claims, used, minted, self.clock())
        arguments = (replay_key(issuer, jti), self._key, until, entry[-1], self._backlog)
        try:
            try:
                # The command itself, as replay.py does: redis-py's Script object adds
                # argument handling to every call, measured at a few microseconds a mint.
                outcome = await self._redis.execute_command(  # type: ignore[no-untyped-call]
                    *self._evalsha, *arguments
                )
            except redis.exceptions.NoScriptError:  # a restarted Redis, or its first use
                outcome = await self._redis.execute_command(  # type: ignore[no-untyped-call]
                    "EVAL", _CLAIM_AND_RECORD, 2, *arguments
                )
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ReplayUnavailable(f"redis: {type(exc).__name__}") from None
        if outcome == -1:
            raise RecordUnavailable(f"{self.max_backlog} mint records wait for the database")
        if isinstance(outcome, int):  # 0: already used
            return False
        self._hold(outcome, entry)
        return True

    async def drain(self) -> int:
        """Write what this process recorded into SQL: how many entries were written.
        Raises when Redis or SQL fails; what was not written stays held for the next pass
        (and in the stream, for a sweep, should this process die)."""
        async with self._passing:
            # What is held now, not what arrives while it is written: that waits for the
            # next pass, or each mint would be a transaction of its own.
            todo = [(entry_id, MintEntry(*held)) for entry_id, held in self._held.items()]
            written = 0
            for at in range(0, len(todo), BATCH):
                batch = todo[at : at + BATCH]
                again, self._unsure = self._unsure, True
                written += await self._commit(batch, [], again=again)
                self._unsure = False
                for entry_id, _ in batch:
                    self._held.pop(entry_id, None)
        await self._observe_backlog()
        return written

    async def sweep(self) -> int:
        """Write the entries that have waited in the stream longer than `idle_ms`: those
        of a replica that died, or stopped while SQL or Redis was down, before it wrote
        them. Every replica sweeps; the look-up and minted_tokens' unique key keep an
        entry two replicas sweep at once written once."""
        async with self._passing:
            seconds, micros = await self._redis.time()
            # Stream ids are Redis's own milliseconds: its clock, not ours, says how old.
            before = seconds * 1000 + micros // 1000 - self.idle_ms
            written = 0
            async with contextlib.aclosing(stream_pages(self._redis, self.key, before)) as pages:
                async for entries in pages:
                    good, bad = _parsed(entries)
                    written += await self._commit(good, bad, again=True)
                    for entry_id, _ in entries:
                        self._held.pop(entry_id, None)
            return written

    async def drain_forever(self) -> None:
        failures, next_sweep = 0, 0.0
        while True:
            _stop_if_asked()
            written = 0
            try:
                written = await self.drain()
                if self.clock() >= next_sweep:
                    written += await self.sweep()
                    next_sweep = self.clock() + SWEEP_EVERY
                failures = 0
            except _UNAVAILABLE as exc:
                failures += 1
                self.observer.store_unavailable("mint-journal")
                log.warning("mint journal: cannot drain now: %s", type(exc).__name__)
                # SQL down and Redis up is when the records pile up: say how many.
                await self._observe_backlog()
            if failures:
                await self._pause(min(MAX_BACKOFF, 0.5 * 2**failures))
            elif written:
                await asyncio.sleep(LINGER)
            else:
                await self._pause(SWEEP_EVERY)

    async def aclose(self) -> None:
        """A last pass before the store closes: what this process recorded goes to SQL
        now rather than wait `idle_ms` for another replica's sweep."""
        try:
            # Bounded: a Redis that takes connections and never answers must not hold
            # the shutdown; what is left waits for another replica.
            async with asyncio.timeout(CLOSE_WITHIN):
                await self.drain()
        except (*_UNAVAILABLE, TimeoutError) as exc:
            log.warning("mint journal: left for another replica: %s", type(exc).__name__)

    async def _observe_backlog(self) -> None:
        # Redis down: the pass that failed is counted already (store_unavailable).
        with contextlib.suppress(redis.exceptions.RedisError, OSError):
            self.observer.backlog(int(await self._redis.xlen(self.key)))

    def _hold(self, entry_id: bytes | str, entry: Fields) -> None:
        if len(self._held) >= self.max_held:
            # SQL has been away a long time: the oldest is left to the sweep, which finds
            # it in the stream, so memory stays bounded and nothing is lost.
            del self._held[next(iter(self._held))]
        self._held[entry_id] = entry
        self._wake.set()

    async def _pause(self, seconds: float) -> None:
        _stop_if_asked()
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as
        # the event is set, and the lifespan's shutdown would wait for this task for ever.
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((woken,), timeout=seconds)
        finally:
            woken.cancel()
        self._wake.clear()

    async def _commit(
        self,
        good: Sequence[tuple[Any, MintEntry]],
        bad: list[tuple[Any, bytes, str]],
        *,
        again: bool,
    ) -> int:
        """Write `good`, set `bad` aside, then delete all of them from the stream."""
        refused = await self._write(good, bad, again=again) if good else 0
        for entry_id, raw, why in bad:
            log.error(
                "mint journal: entry %s rejected, kept in %s: %s", entry_id, self.rejected, why
            )
            await self._redis.xadd(self.rejected, {FIELD: raw, b"why": why.encode()})
        ids = [entry_id for entry_id, _ in good] + [entry_id for entry_id, _, _ in bad]
        if ids:
            await self._redis.xdel(self.key, *ids)
        if bad:
            self.observer.journaled("rejected", len(bad))
        if len(good) > refused:
            self.observer.journaled("written", len(good) - refused)
        return len(good) - refused

    async def _write(
        self,
        good: Sequence[tuple[Any, MintEntry]],
        bad: list[tuple[Any, bytes, str]],
        *,
        again: bool,
    ) -> int:
        """Write `good` in one transaction; the entries SQL refuses join `bad`: how many.

        A refusal is an entry written meanwhile by a sweep (minted_tokens' unique key),
        which a second attempt's look-up skips, or an entry SQL refuses, which is found
        by halving the batch: one bad entry among thousands costs a few dozen
        transactions, not one per entry.
        """
        try:
            await self.writer.write([entry for _, entry in good], again=again)
            return 0
        except (SQLAlchemyError, StoreError) as exc:
            refusal = sql_refusal(exc)
            if refusal is None:
                raise
            if again and len(good) == 1:
                ((entry_id, entry),) = good
                bad.append((entry_id, entry.encoded, type(refusal).__name__))
                return 1
        if not again:
            return await self._write(good, bad, again=True)
        half = len(good) // 2
        return await self._write(good[:half], bad, again=True) + await self._write(
            good[half:], bad, again=True
        )


Entries = list[tuple[Any, dict[bytes, bytes]]]


async def stream_pages(
    client: aioredis.Redis, stream: str, end: int | str = "+"
) -> AsyncGenerator[Entries, None]:
    """A stream's entries up to `end` (an id, or Redis milliseconds), oldest first, BATCH
    at a time; each page is read only when the one before it has been dealt with."""
    start = "-"
    while True:
        page: Any = await client.xrange(stream, start, end, count=BATCH)
        if page:
            yield page
        if len(page) < BATCH:
            return
        start = f"({_text(page[-1][0])}"


def _parsed(
    entries: Sequence[tuple[Any, Any]],
) -> tuple[list[tuple[Any, MintEntry]], list[tuple[Any, bytes, str]]]:
    good, bad = [], []
    for entry_id, fields in entries:
        try:
            good.append((entry_id, MintEntry.from_json(fields[FIELD])))
        except (KeyError, ValueError, TypeError) as exc:
            bad.append((entry_id, fields.get(FIELD, b""), f"{type(exc).__name__}: {exc}"))
    return good, bad


def _stop_if_asked() -> None:
    """Raise CancelledError when this task was asked to stop.

    A cancellation that arrives inside a library call can come out as that library's
    own error, which the loop would take for an outage and retry. The suite saw an
    app's shutdown leave this task "cancelling" at its next pause, for ever; the
    task's own cancelling() count holds whatever swallowed the CancelledError.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
