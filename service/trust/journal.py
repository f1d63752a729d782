"""The mint journal: a mint's record written in the replay claim's own round trip.

With Redis replay protection every mint already makes one round trip to claim its
OIDC token's jti. One Lua script makes that claim and appends the mint's record
(trust/records.py `MintEntry`) to a Redis stream, atomically: either both are
written or neither. The token is signed and answered only after that, so no token
leaves without its record, and the record is as durable as the claim that stops a
replay (the shipped deployments run Redis with an append-only file synced on every
write, deploy/README).

Every replica drains the stream into SQL through one consumer group: a batch is
written in one transaction (`RecordWriter`), then acknowledged and deleted. So the
audit trail, `minted_tokens` and last use reach SQL about 0.1 s (LINGER) after the
answer, and a mint costs no SQL round trip of its own. Entries a replica took and
never acknowledged (it died mid-batch) are adopted by another after `IDLE_MS`.
Delivery is at least once: an entry delivered again (read back from this drainer's
pending list, or adopted) is written with `again=True`, which skips jtis already in
minted_tokens, so a batch written twice is recorded once. A first delivery skips
that look-up: no drainer can have written an entry nobody was given.

Fail closed: when SQL is down the entries wait in Redis, and once `max_backlog` of
them wait the script refuses the claim, so the exchange answers 503 rather than
issue tokens nobody can trace. An entry SQL refuses (or that does not parse) is
moved to the `:rejected` stream and logged, never dropped.

Why not commit to SQL before answering (trust/records.py `SqlMintRecorder`, still
the path without Redis): that is a second round trip and a transaction on every
mint: 0.63x the file-only mint's throughput against 0.83-0.88x with the journal
(BENCHMARKS.md, "Trust from the database").
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
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
    MintEntry,
    RecordUnavailable,
    RecordWriter,
    mint_entry,
    refused_by_sql,
)

log = logging.getLogger(__name__)

GROUP: Final = "drainers"
FIELD: Final = b"e"
MAX_BACKLOG = 100_000
BATCH = 512
# An entry taken this long ago and not acknowledged: the replica that took it is gone.
IDLE_MS = 30_000
ADOPT_EVERY = 10.0
# After a pass that wrote something, gather for this long before the next: batches of
# tens rather than ones, so a mint costs a fraction of a transaction's CPU.
LINGER = 0.1
# With nothing to write, look again this often (entries of replicas that stopped early).
POLL = 0.5
MAX_BACKOFF = 5.0
CLOSE_WITHIN = 5.0

# KEYS[1]: the replay key, KEYS[2]: the journal. ARGV: expiry (unix seconds), the entry,
# the backlog bound. 1: claimed and recorded; 0: already used; -1: backlog full.
_CLAIM_AND_RECORD = """
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
if not redis.call('SET', KEYS[1], '1', 'NX', 'EXAT', ARGV[1]) then return 0 end
redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
return 1
"""

_UNAVAILABLE = (SQLAlchemyError, StoreError, OSError, redis.exceptions.RedisError)


class JournalObserver(Protocol):
    """Told what each pass did (service.observability.metrics.Metrics counts it)."""

    def journaled(self, outcome: str, count: int) -> None:
        """outcome: "written" (into SQL) or "rejected" (set aside in `:rejected`)."""

    def store_unavailable(self, store: str) -> None: ...


class _Unobserved:
    def journaled(self, outcome: str, count: int) -> None:
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
        observer: JournalObserver | None = None,
    ) -> None:
        self._redis = client
        self.writer = RecordWriter(store)
        self.key = key
        self.rejected = f"{key}:rejected"
        self.clock = clock
        self.max_backlog = max_backlog
        self.idle_ms = idle_ms
        self.observer: JournalObserver = observer or _Unobserved()
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        # Its SHA-1 is how Redis names a loaded script (EVALSHA), not a security measure.
        self._sha = hashlib.sha1(_CLAIM_AND_RECORD.encode(), usedforsecurity=False).hexdigest()
        self._wake = asyncio.Event()
        # One pass at a time in a process: two would share this consumer's pending entries
        # and could both write one before either commits.
        self._passing = asyncio.Lock()
        self._grouped = False
        # Our own unacknowledged entries may exist (start-up, a failed pass): read them first.
        self._unsure = True

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
        entry = mint_entry(issuer, claims, used, minted, self.clock())
        arguments = (2, replay_key(issuer, jti), self.key, until, entry.to_json(), self.max_backlog)
        try:
            try:
                # The command itself, as replay.py does: redis-py's Script object adds
                # argument handling to every call, measured at a few microseconds a mint.
                outcome = await self._redis.execute_command(  # type: ignore[no-untyped-call]
                    "EVALSHA", self._sha, *arguments
                )
            except redis.exceptions.NoScriptError:  # a restarted Redis, or its first use
                outcome = await self._redis.execute_command(  # type: ignore[no-untyped-call]
                    "EVAL", _CLAIM_AND_RECORD, *arguments
                )
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ReplayUnavailable(f"redis: {type(exc).__name__}") from None
        if outcome == -1:
            raise RecordUnavailable(f"{self.max_backlog} mint records wait for the database")
        if outcome == 1:
            self._wake.set()
        return bool(outcome == 1)

    async def drain(self) -> int:
        """Move what waits now into SQL: how many entries were written.
        Raises when Redis or SQL fails; what was not acknowledged stays for the next pass."""
        async with self._passing:
            await self._group()
            # Until this pass ends well, entries taken and not acknowledged may be ours.
            mine, self._unsure = self._unsure, True
            written = await self._read("0") if mine else 0
            written += await self._read(">")
            self._unsure = False
            return written

    async def adopt(self) -> int:
        """Take over entries another drainer took more than `idle_ms` ago and never
        acknowledged, and write them."""
        async with self._passing:
            await self._group()
            written, start = 0, "0-0"
            while True:
                reply = await self._redis.xautoclaim(
                    self.key, GROUP, self.consumer, self.idle_ms, start_id=start, count=BATCH
                )
                start, entries = _text(reply[0]), reply[1]
                if entries:
                    self._unsure = True  # ours now; a failure below leaves them pending to us
                    written += await self._commit(entries)
                if start == "0-0":
                    return written

    async def drain_forever(self) -> None:
        failures, next_adopt = 0, 0.0
        while True:
            _stop_if_asked()
            written = 0
            try:
                written = await self.drain()
                if self.clock() >= next_adopt:
                    written += await self.adopt()
                    next_adopt = self.clock() + ADOPT_EVERY
                failures = 0
            except _UNAVAILABLE as exc:
                failures += 1
                self.observer.store_unavailable("mint-journal")
                log.warning("mint journal: cannot drain now: %s", type(exc).__name__)
            if failures:
                await self._pause(min(MAX_BACKOFF, 0.5 * 2**failures))
            elif written:
                await asyncio.sleep(LINGER)
            else:
                await self._pause(POLL)

    async def aclose(self) -> None:
        """A last pass before the store closes: what this process recorded goes to SQL
        now rather than wait IDLE_MS for another replica."""
        try:
            # Bounded: a Redis that takes connections and never answers must not hold
            # the shutdown; what is left waits for another replica.
            async with asyncio.timeout(CLOSE_WITHIN):
                await self.drain()
        except (*_UNAVAILABLE, TimeoutError) as exc:
            log.warning("mint journal: left for another replica: %s", type(exc).__name__)

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

    async def _group(self) -> None:
        if self._grouped:
            return
        try:
            # From the stream's start, not "$": entries written before any drainer existed
            # are owed to SQL too.
            await self._redis.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._grouped = True

    async def _read(self, start: str) -> int:
        written = 0
        while True:
            try:
                # RESP2 (the client's default): [[stream, [(id, fields), ...]]].
                reply: Any = await self._redis.xreadgroup(
                    GROUP, self.consumer, {self.key: start}, count=BATCH
                )
            except redis.exceptions.ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis lost it (restarted empty): make it again
                    self._grouped = False
                raise
            entries = reply[0][1] if reply else []
            if entries:
                written += await self._commit(entries, again=start != ">")
            # A short batch took everything that waited. What arrived while it was being
            # written waits for the next pass: reading again at once would write batches
            # of one or two, each a transaction, as fast as mints arrive.
            if len(entries) < BATCH:
                return written

    async def _commit(self, entries: Sequence[tuple[Any, Any]], *, again: bool = True) -> int:
        ids, good, bad = [], [], []
        for entry_id, fields in entries:
            ids.append(entry_id)
            if not fields:  # deleted after it was delivered: nothing left to write
                continue
            try:
                good.append((entry_id, MintEntry.from_json(fields[FIELD])))
            except (KeyError, ValueError, TypeError) as exc:
                bad.append((entry_id, fields.get(FIELD, b""), f"{type(exc).__name__}: {exc}"))
        refused = 0
        try:
            await self.writer.write([entry for _, entry in good], again=again)
        except SQLAlchemyError as exc:
            if not refused_by_sql(exc):
                raise
            # One entry SQL refuses must not hold back the others: write them one by one.
            for entry_id, entry in good:
                try:
                    await self.writer.write([entry], again=again)
                except SQLAlchemyError as alone:
                    if not refused_by_sql(alone):
                        raise
                    bad.append((entry_id, entry.to_json(), type(alone).__name__))
                    refused += 1
        for entry_id, raw, why in bad:
            log.error(
                "mint journal: entry %s rejected, kept in %s: %s", entry_id, self.rejected, why
            )
            await self._redis.xadd(self.rejected, {FIELD: raw, b"why": why.encode()})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.key, GROUP, *ids)
            pipe.xdel(self.key, *ids)
            await pipe.execute()
        if bad:
            self.observer.journaled("rejected", len(bad))
        if len(good) > refused:
            self.observer.journaled("written", len(good) - refused)
        return len(good) - refused


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
