"""The mint journal: the replay claim and the mint's record in one Redis write, moved
into SQL by the process that minted, or by a sweep (service/trust/journal.py).

What an attacker or a fault could try: replay a token (one record, no second
token), crash a process between commit and the stream's delete (written once), crash
it before commit (swept, not lost), race a sweep against a slow writer (written
once), write junk into the stream (kept aside, the rest written), take SQL down
(records wait, then the backlog refuses mints), take Redis down (503, nothing
signed).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fakeissuer import NOW as FAKE_NOW
from fakeissuer import Clock, FakeIssuer, github_claims
from publishingkit import app_over, codes, mint, trust
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError

from service.issuers import Issuers
from service.minting.tokens import Minted, Planned
from service.redisclient import redis_client
from service.replay import ReplayUnavailable, replay_key
from service.store import SqlStore
from service.store.base import Store, StoreError
from service.store.lazy import LazyStore
from service.trust import Trusted
from service.trust.journal import RedisMintJournal, journal_key
from service.trust.records import (
    MintEntry,
    RecordUnavailable,
    RecordWriter,
    SqlMintRecorder,
    refused_by_sql,
)
from service.trust.sql import SqlTrustStore

pytestmark = pytest.mark.anyio

ISSUER = "https://token.actions.githubusercontent.com"
REPOSITORY = "octo-org/sampleproject"
NOW = FAKE_NOW


@pytest.fixture
def key() -> str:
    return f"mintgate:mint-journal:test-{uuid.uuid4().hex[:8]}"


def as_the_app_has_it(store: Store) -> Store:
    """The store as the app hands it to the journal: opened lazily, every driver error
    a StoreError with the driver's error as its cause (store/lazy.py)."""

    async def opened() -> Store:
        return store

    return LazyStore(opened)


@pytest.fixture
async def journals(
    redis: aioredis.Redis, store: SqlStore, key: str
) -> AsyncIterator[Callable[..., RedisMintJournal]]:
    def make(**options: Any) -> RedisMintJournal:
        lazy = as_the_app_has_it(store)
        return RedisMintJournal(redis, lazy, key=key, clock=lambda: NOW, **options)

    yield make
    await redis.delete(key, f"{key}:rejected")


@dataclass
class Kit:
    """A journal's surroundings: its Redis and stream, its database, one trusted publisher."""

    redis: aioredis.Redis
    key: str
    store: SqlStore
    trusted: list[Trusted]
    journal: Callable[..., RedisMintJournal]


@pytest.fixture
async def kit(
    journals: Callable[..., RedisMintJournal],
    store: SqlStore,
    issuers: Issuers,
    redis: aioredis.Redis,
    key: str,
) -> Kit:
    return Kit(redis, key, store, await used(store, issuers), journals)


async def used(store: SqlStore, issuers: Issuers) -> list[Trusted]:
    await trust(store, issuers, "sampleproject")
    return list(await SqlTrustStore(store, issuers).publishers_for(ISSUER, REPOSITORY))


def planned(jti: str) -> Planned:
    return Planned({}, expires=NOW + 900, jti=jti, projects=("sampleproject",), issued=NOW)


async def record(
    journal: RedisMintJournal, trusted: list[Trusted], jti: str, *, oidc_jti: str | None = None
) -> bool:
    return await journal.consume(
        ISSUER,
        oidc_of(journal, oidc_jti or f"oidc-{jti}"),
        until=NOW + 600,
        claims={"run_id": "77"},
        used=trusted,
        minted=planned(jti),
    )


def oidc_of(journal: RedisMintJournal, jti: str) -> str:
    # Unique per test: replay claims outlive the test in the shared Redis database.
    return f"{journal.key}/{jti}"


async def written(store: SqlStore) -> tuple[list[str], list[str]]:
    """The jtis of the mint audit events and of the minted_tokens rows, in order."""
    async with store.transaction() as tx:
        events = await tx.audit_events(project="sampleproject")
        tokens = await tx.minted_tokens(
            publisher_id=None,
            repository=REPOSITORY,
            unexpired_at=datetime.fromtimestamp(NOW, UTC),
            since=None,
            until=None,
        )
    return (
        sorted(e.details["jti"] for e in events if e.event == "mint"),
        sorted(t.jti for t in tokens),
    )


async def waiting(redis: aioredis.Redis, key: str) -> int:
    """Entries in the stream: recorded, and not yet known to be in SQL."""
    return int(await redis.xlen(key))


async def test_the_claim_and_the_record_are_one_write(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    redis, key, store = kit.redis, kit.key, kit.store

    assert await record(journal, trusted, "a", oidc_jti="job-1") is True
    # The same OIDC token again: refused, and no second record.
    assert await record(journal, trusted, "b", oidc_jti="job-1") is False

    assert await redis.xlen(key) == 1
    assert await redis.expiretime(replay_key(ISSUER, oidc_of(journal, "job-1"))) == NOW + 600
    assert await journal.drain() == 1
    assert await written(store) == (["a"], ["a"])


async def test_a_redis_that_forgot_the_script_is_given_it_again(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    redis = kit.redis
    await redis.script_flush()  # as after a restart

    assert await record(journal, trusted, "a") is True
    assert await redis.script_exists(journal._sha) == [True]
    assert await record(journal, trusted, "b") is True


async def test_drained_records_reach_sql_and_leave_redis(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    redis, key, store = kit.redis, kit.key, kit.store
    for jti in ("a", "b", "c"):
        assert await record(journal, trusted, jti)

    assert await journal.drain() == 3

    assert await written(store) == (["a", "b", "c"], ["a", "b", "c"])
    assert await waiting(redis, key) == 0
    async with store.transaction() as tx:
        project = await tx.project_by_name("sampleproject")
        assert project is not None
        (publisher,) = await tx.publishers_of(project.id)
    assert publisher.last_used_at == datetime.fromtimestamp(NOW, UTC)
    assert publisher.last_run_id == "77"


async def test_a_batch_committed_but_never_deleted_is_written_once(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    redis, key, store = kit.redis, kit.key, kit.store
    assert await record(journal, trusted, "a")
    assert await record(journal, trusted, "b")
    # The process commits its batch and dies before it deletes the entries.
    await RecordWriter(store).write([MintEntry(*held) for held in journal._held.values()])
    del journal

    assert await kit.journal(idle_ms=0).sweep() == 2

    assert await written(store) == (["a", "b"], ["a", "b"])
    assert await waiting(redis, key) == 0


async def test_entries_of_a_process_that_died_are_swept_once_old(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    store = kit.store
    assert await record(journal, trusted, "a")
    del journal  # died holding it

    # Not yet old: a live, slow process is not raced for it.
    assert await kit.journal().sweep() == 0
    assert await written(store) == ([], [])
    assert await kit.journal(idle_ms=0).sweep() == 1
    assert await written(store) == (["a"], ["a"])


async def test_a_sweep_racing_a_slow_writer_leaves_one_record(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    redis, key, store = kit.redis, kit.key, kit.store
    assert await record(journal, trusted, "a")
    # Another replica sweeps the entry while this process still holds it.
    assert await kit.journal(idle_ms=0).sweep() == 1

    # Its own first write meets minted_tokens' unique key, and the retry skips it.
    await journal.drain()

    assert await written(store) == (["a"], ["a"])
    assert await waiting(redis, key) == 0


class CommitsThenFails:
    """A commit whose answer is lost: the rows are in, the caller sees an outage."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.store.transaction() as tx:
            yield tx
        raise OperationalError("COMMIT", {}, ConnectionResetError("answer lost"))


async def test_a_pass_whose_commit_answer_was_lost_is_written_once(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    store = kit.store
    assert await record(journal, trusted, "a")
    journal.writer.store = CommitsThenFails(store)  # type: ignore[assignment]
    with pytest.raises(OperationalError):
        await journal.drain()
    journal.writer.store = store

    assert await record(journal, trusted, "b")
    await journal.drain()

    assert await written(store) == (["a", "b"], ["a", "b"])


async def test_a_process_holds_at_most_max_held_and_the_sweep_has_the_rest(kit: Kit) -> None:
    journal, trusted = kit.journal(max_held=2, idle_ms=0), kit.trusted
    redis, key, store = kit.redis, kit.key, kit.store
    for jti in "abc":
        assert await record(journal, trusted, jti)

    assert await journal.drain() == 2  # b and c: a was let go
    assert await waiting(redis, key) == 1
    assert await journal.sweep() == 1

    assert await written(store) == (["a", "b", "c"], ["a", "b", "c"])
    assert await waiting(redis, key) == 0


async def test_a_full_backlog_refuses_the_claim_and_burns_no_jti(kit: Kit) -> None:
    journal, trusted = kit.journal(max_backlog=1), kit.trusted
    redis = kit.redis
    assert await record(journal, trusted, "a")

    with pytest.raises(RecordUnavailable):
        await record(journal, trusted, "b", oidc_jti="job-2")

    # The job's retry is not "already used": its jti was never claimed.
    assert not await redis.exists(replay_key(ISSUER, oidc_of(journal, "job-2")))
    await journal.drain()
    assert await record(journal, trusted, "b", oidc_jti="job-2")


async def test_redis_down_is_replay_unavailable(store: SqlStore, issuers: Issuers) -> None:
    # The service's own client: nothing listens on port 1 (a plain redis-py client
    # retried the refused connection with back-off for four seconds).
    down = redis_client("redis://127.0.0.1:1")
    journal = RedisMintJournal(down, store, key="mintgate:mint-journal:none")
    try:
        with pytest.raises(ReplayUnavailable):
            await record(journal, await used(store, issuers), "a")
    finally:
        await down.aclose()


class DownStore:
    """A store whose database does not answer."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        raise OperationalError("BEGIN", {}, ConnectionRefusedError("database down"))
        yield


async def test_records_wait_in_redis_while_sql_is_down(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    redis, key, store = kit.redis, kit.key, kit.store
    assert await record(journal, trusted, "a")
    journal.writer.store = DownStore()  # type: ignore[assignment]

    with pytest.raises(OperationalError):
        await journal.drain()
    await journal.aclose()  # logs, and leaves the entry for a later pass

    assert await waiting(redis, key) == 1
    journal.writer.store = store
    assert await journal.drain() == 1
    assert await written(store) == (["a"], ["a"])
    assert await waiting(redis, key) == 0


async def test_an_entry_that_does_not_parse_is_kept_aside_not_dropped(kit: Kit) -> None:
    journal, trusted = kit.journal(idle_ms=0), kit.trusted
    redis, key, store = kit.redis, kit.key, kit.store
    # Someone with write access to Redis plants entries.
    await redis.xadd(key, {b"e": b"not json"})
    await redis.xadd(key, {b"e": b'[1, "x", null, "j", 1, 2, [], []]'})  # names no publisher
    await redis.xadd(key, {b"other": b"field"})
    assert await record(journal, trusted, "a")

    assert await journal.drain() == 1
    assert await journal.sweep() == 0

    assert await written(store) == (["a"], ["a"])
    assert await waiting(redis, key) == 0
    rejected = await redis.xrange(f"{key}:rejected")
    assert [fields[b"e"] for _, fields in rejected] == [
        b"not json",
        b'[1, "x", null, "j", 1, 2, [], []]',
        b"",
    ]
    assert all(fields[b"why"] for _, fields in rejected)


@pytest.mark.parametrize("wrap", [as_the_app_has_it, lambda store: store], ids=["app", "bare"])
async def test_an_entry_sql_refuses_is_kept_aside_and_the_rest_written(
    redis: aioredis.Redis,
    pg_store: SqlStore,
    issuers: Issuers,
    key: str,
    wrap: Callable[[Store], Store],
) -> None:
    journal = RedisMintJournal(redis, wrap(pg_store), key=key, clock=lambda: NOW, idle_ms=0)
    try:
        trusted = await used(pg_store, issuers)
        assert await record(journal, trusted, "a")
        too_long = MintEntry.of(
            float(NOW), ISSUER, None, "b", NOW, NOW + 900, ("x",), ((None, "x" * 300, "i", "r"),)
        )
        await redis.xadd(key, {b"e": too_long.encoded})
        assert await record(journal, trusted, "c")

        assert await journal.drain() == 2
        assert await journal.sweep() == 0

        assert await written(pg_store) == (["a", "c"], ["a", "c"])
        ((_, fields),) = await redis.xrange(f"{key}:rejected")
        assert MintEntry.from_json(fields[b"e"]) == too_long
        assert fields[b"why"] in (b"DataError", b"DBAPIError")
    finally:
        await redis.delete(key, f"{key}:rejected")


class CountedWrites:
    """Wraps a RecordWriter's write: how many transactions a pass began."""

    def __init__(self, writer: RecordWriter) -> None:
        self.calls = 0
        self._write = writer.write

    async def __call__(self, entries: Any, *, again: bool = False) -> None:
        self.calls += 1
        await self._write(entries, again=again)


async def test_one_refused_entry_among_many_costs_a_few_transactions_not_one_each(
    redis: aioredis.Redis, pg_store: SqlStore, issuers: Issuers, key: str
) -> None:
    """Found by halving the batch: 64 entries with one SQL refuses are 13 transactions
    (the batch, then two halves at each of six levels), where one attempt per entry
    was 65; at a batch of 4,096 that was thousands of transactions in the serving
    process."""
    journal = RedisMintJournal(
        redis, as_the_app_has_it(pg_store), key=key, clock=lambda: NOW, idle_ms=0
    )
    try:
        trusted = await used(pg_store, issuers)
        good = [entry_at(trusted, NOW, f"r{n:02}") for n in range(63)]
        too_long = MintEntry.of(
            float(NOW), ISSUER, None, "bad", NOW, NOW + 900, ("x",), ((None, "x" * 300, "i", "r"),)
        )
        for entry in [*good[:40], too_long, *good[40:]]:
            await redis.xadd(key, {b"e": entry.encoded})
        counted = CountedWrites(journal.writer)
        journal.writer.write = counted  # type: ignore[method-assign]

        assert await journal.sweep() == 63

        assert counted.calls == 13
        jtis = sorted(e.jti for e in good)
        assert await written(pg_store) == (jtis, jtis)
        ((_, fields),) = await redis.xrange(f"{key}:rejected")
        assert fields[b"e"] == too_long.encoded
        assert await waiting(redis, key) == 0
    finally:
        await redis.delete(key, f"{key}:rejected")


async def test_a_pass_racing_a_sweep_is_written_again_in_one_transaction(kit: Kit) -> None:
    """A pass whose entries a sweep wrote meanwhile meets minted_tokens' unique key: the
    whole batch is tried once more with the look-up, which skips them."""
    journal, trusted, store = kit.journal(), kit.trusted, kit.store
    for jti in ("a", "b", "c", "d"):
        assert await record(journal, trusted, jti)
    sweeper = RecordWriter(store)
    await sweeper.write([MintEntry(*held) for held in list(journal._held.values())[1:3]])
    counted = CountedWrites(journal.writer)
    journal.writer.write = counted  # type: ignore[method-assign]

    assert await journal.drain() == 4

    assert counted.calls == 2
    assert await written(store) == (list("abcd"), list("abcd"))
    assert await waiting(kit.redis, kit.key) == 0


async def test_without_redis_one_record_sql_refuses_fails_only_its_own_mint(
    pg_store: SqlStore, issuers: Issuers
) -> None:
    """Group commit (SqlMintRecorder) over the app's store: the refused record is tried
    alone and fails its own mint; the mints committed beside it are answered."""
    recorder = SqlMintRecorder(as_the_app_has_it(pg_store), clock=lambda: NOW)
    trusted = await used(pg_store, issuers)
    too_long = [replace(trusted[0], project="x" * 300)]

    def minted(jti: str) -> Minted:
        return Minted("t", expires=NOW + 900, jti=jti, projects=("sampleproject",), issued=NOW)

    try:
        outcomes = await asyncio.gather(
            recorder.minted(ISSUER, {}, trusted, minted("a")),
            recorder.minted(ISSUER, {}, too_long, minted("b")),
            recorder.minted(ISSUER, {}, trusted, minted("c")),
            return_exceptions=True,
        )
    finally:
        await recorder.aclose()
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], Exception)
    assert refused_by_sql(outcomes[1])
    assert await written(pg_store) == (["a", "c"], ["a", "c"])


class Committed:
    """The store, telling a test each time a transaction has committed."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.commits: asyncio.Queue[None] = asyncio.Queue()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with self.store.transaction() as tx:
            yield tx
        self.commits.put_nowait(None)


async def test_the_drainer_writes_a_record_soon_after_the_mint(
    redis: aioredis.Redis, store: SqlStore, issuers: Issuers, key: str
) -> None:
    trusted = await used(store, issuers)
    watched = Committed(store)
    journal = RedisMintJournal(redis, watched, key=key, clock=lambda: NOW)  # type: ignore[arg-type]
    drainer = asyncio.create_task(journal.drain_forever())
    try:
        assert await record(journal, trusted, "a")
        # The mint wakes the drainer: no wait for its poll.
        await asyncio.wait_for(watched.commits.get(), timeout=5)
        assert await written(store) == (["a"], ["a"])
    finally:
        drainer.cancel()
        await redis.delete(key)


async def test_a_running_drainer_sweeps_what_a_dead_process_left(
    redis: aioredis.Redis, store: SqlStore, issuers: Issuers, key: str
) -> None:
    trusted = await used(store, issuers)
    dead = RedisMintJournal(redis, store, key=key, clock=lambda: NOW)
    assert await record(dead, trusted, "a")
    del dead
    watched = Committed(store)
    survivor = RedisMintJournal(redis, watched, key=key, clock=lambda: NOW, idle_ms=0)  # type: ignore[arg-type]
    drainer = asyncio.create_task(survivor.drain_forever())
    try:
        # Nothing of its own to write: its first pass sweeps.
        await asyncio.wait_for(watched.commits.get(), timeout=5)
        assert await written(store) == (["a"], ["a"])
        assert await waiting(redis, key) == 0
    finally:
        drainer.cancel()
        await asyncio.gather(drainer, return_exceptions=True)
        await redis.delete(key)


async def test_closing_writes_what_this_process_recorded(kit: Kit) -> None:
    journal, trusted = kit.journal(), kit.trusted
    store = kit.store
    assert await record(journal, trusted, "a")

    await journal.aclose()

    assert await written(store) == (["a"], ["a"])


def test_one_journal_per_database_whatever_its_password() -> None:
    first = journal_key("postgresql+asyncpg://mintgate:old@db/registry")
    assert first == journal_key("postgresql+asyncpg://mintgate:rotated@db/registry")
    assert first != journal_key("postgresql+asyncpg://mintgate:old@db/staging")
    assert "old" not in first
    assert first.startswith("mintgate:mint-journal:")


def test_a_sqlite_file_is_named_by_its_host_and_its_whole_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two single-host installs sharing one Redis, each with its own ./mintgate.sqlite3.
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    here = journal_key("sqlite+aiosqlite:///./mintgate.sqlite3")
    assert here == journal_key(f"sqlite+aiosqlite:///{tmp_path}/a/mintgate.sqlite3")
    monkeypatch.chdir(tmp_path / "b")
    assert journal_key("sqlite+aiosqlite:///./mintgate.sqlite3") != here
    monkeypatch.setattr("socket.gethostname", lambda: "another-host")
    assert journal_key(f"sqlite+aiosqlite:///{tmp_path}/a/mintgate.sqlite3") != here


@dataclass
class Registry:
    """The app's surroundings: a database trusting one publisher, a clock, Redis."""

    store: SqlStore
    clock: Clock
    redis: aioredis.Redis
    github: FakeIssuer

    def token(self) -> str:
        return self.github.sign(github_claims())


@pytest.fixture
async def registry(
    store: SqlStore,
    issuers: Issuers,
    github: FakeIssuer,
    issuers_mock: Any,
    clock: Clock,
    redis: aioredis.Redis,
) -> Registry:
    await trust(store, issuers, "sampleproject")
    return Registry(store, clock, redis, github)


@asynccontextmanager
async def app(
    registry: Registry, **changes: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, RedisMintJournal | None]]:
    async with app_over(registry.store, registry.clock, registry.redis, **changes) as client:
        yield client, client._transport.app.state.mint_journal  # type: ignore[attr-defined]


async def test_a_mint_over_redis_is_journaled_then_recorded(
    registry: Registry,
) -> None:
    store = registry.store
    token = registry.token()
    async with app(registry) as (client, journal):
        assert journal is not None
        first = await mint(client, token)
        again = await mint(client, token)
        await journal.drain()

        assert first.status_code == 200, first.json()
        assert codes(again) == ["invalid-reuse-token"]
        # One record for the one token, even with the app's own drainer running beside
        # this drain: a pass at a time per process.
        events, tokens = await written(store)
        assert len(events) == 1
        assert events == tokens


async def test_a_full_backlog_answers_503_and_the_retry_mints(
    registry: Registry,
) -> None:
    store = registry.store
    token = registry.token()
    async with app(registry) as (client, journal):
        assert journal is not None
        journal.max_backlog = 0  # as if SQL had been down for a long time

        refused = await mint(client, token)
        journal.max_backlog = 10
        retried = await mint(client, token)
        await journal.drain()

    assert refused.status_code == 503
    assert codes(refused) == ["service-unavailable"]
    assert "token" not in refused.json()
    assert retried.status_code == 200, retried.json()
    assert len((await written(store))[0]) == 1


async def test_without_the_journal_each_mint_commits_before_its_answer(
    registry: Registry,
) -> None:
    store = registry.store
    async with app(registry, mint_journal=False) as (client, journal):
        response = await mint(client, registry.token())
        assert journal is None
        assert response.status_code == 200, response.json()
        # No drain: the record was durable before the answer.
        assert len((await written(store))[0]) == 1


async def test_shutdown_is_not_lost_when_it_arrives_with_a_wake_up(kit: Kit) -> None:
    # Python 3.11's asyncio.wait_for returned normally here, swallowing the cancellation:
    # the drainer went on for ever and the app's shutdown waited for it.
    journal = kit.journal()
    pause = asyncio.create_task(journal._pause(60))
    await asyncio.sleep(0)  # let it wait on the event
    journal._wake.set()
    await asyncio.sleep(0)
    pause.cancel()

    done, _ = await asyncio.wait({pause}, timeout=10)

    assert pause in done
    assert pause.cancelled()


class _Driver(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _from(cause: Exception) -> StoreError:
    try:
        raise StoreError("database error") from cause
    except StoreError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "refused"),
    [
        (IntegrityError("INSERT", {}, Exception()), True),
        (DataError("INSERT", {}, Exception()), True),
        # asyncpg's executemany: a plain DBAPIError, told apart by SQLSTATE
        (DBAPIError("INSERT", {}, _Driver("22001")), True),  # value too long
        (DBAPIError("INSERT", {}, _Driver("23505")), True),  # unique violation
        (DBAPIError("INSERT", {}, _Driver("08006")), False),  # connection failure
        (DBAPIError("INSERT", {}, _Driver("42P01")), False),  # no such table: not migrated
        (OperationalError("BEGIN", {}, ConnectionRefusedError()), False),
        (ConnectionRefusedError(), False),
        # the app's store (store/lazy.py): the driver's error is the cause
        (_from(IntegrityError("INSERT", {}, Exception())), True),
        (_from(DBAPIError("INSERT", {}, _Driver("22001"))), True),
        (_from(OperationalError("BEGIN", {}, ConnectionRefusedError())), False),
        (StoreError("database unavailable (the last attempt just failed)"), False),
    ],
    ids=[
        "integrity",
        "data",
        "too-long",
        "unique",
        "connection",
        "undefined-table",
        "down",
        "os",
        "store-integrity",
        "store-too-long",
        "store-down",
        "store-not-open",
    ],
)
def test_only_a_record_sql_refuses_is_set_aside(error: Exception, refused: bool) -> None:
    assert refused_by_sql(error) is refused


async def last_use(store: SqlStore) -> tuple[datetime | None, str | None]:
    async with store.transaction() as tx:
        project = await tx.project_by_name("sampleproject")
        assert project is not None
        (publisher,) = await tx.publishers_of(project.id)
    return publisher.last_used_at, publisher.last_run_id


def entry_at(trusted: list[Trusted], at: float, run: str) -> MintEntry:
    (t,) = trusted
    use = (t.ref, t.project, t.publisher.identity, t.publisher.lookup_key)
    return MintEntry.of(
        at, ISSUER, run, f"jti-{run}", int(at), int(at) + 900, ("sampleproject",), (use,)
    )


async def test_last_use_is_written_at_most_every_ten_seconds_and_only_once_committed(
    store: SqlStore, issuers: Issuers
) -> None:
    trusted = await used(store, issuers)
    writer = RecordWriter(store)
    writer.store = DownStore()  # type: ignore[assignment]
    with pytest.raises(OperationalError):
        await writer.write([entry_at(trusted, NOW, "lost")])
    writer.store = store

    # The failed batch is not remembered as written: this one writes the last use.
    await writer.write([entry_at(trusted, NOW + 1, "a")])
    assert await last_use(store) == (datetime.fromtimestamp(NOW + 1, UTC), "a")
    await writer.write([entry_at(trusted, NOW + 5, "b")])
    assert await last_use(store) == (datetime.fromtimestamp(NOW + 1, UTC), "a")
    await writer.write([entry_at(trusted, NOW + 12, "c")])
    assert await last_use(store) == (datetime.fromtimestamp(NOW + 12, UTC), "c")
    # Every mint is in the trail all the same.
    assert (await written(store))[0] == ["jti-a", "jti-b", "jti-c"]


async def test_a_batch_writes_its_latest_use_whatever_the_order_of_its_entries(
    store: SqlStore, issuers: Issuers
) -> None:
    """A sweep's batch comes in stream order, and replicas' clocks differ: the latest
    use is the one with the latest time, not the last entry."""
    trusted = await used(store, issuers)
    writer = RecordWriter(store)

    await writer.write(
        [
            entry_at(trusted, NOW, "a"),
            entry_at(trusted, NOW + 3, "b"),
            entry_at(trusted, NOW + 2, "c"),
        ]
    )
    assert await last_use(store) == (datetime.fromtimestamp(NOW + 3, UTC), "b")

    # Written 3 s ago by this writer: not again within ten seconds, however many entries.
    await writer.write([entry_at(trusted, NOW + 4, "d"), entry_at(trusted, NOW + 9, "e")])
    assert await last_use(store) == (datetime.fromtimestamp(NOW + 3, UTC), "b")
    await writer.write([entry_at(trusted, NOW + 14, "f"), entry_at(trusted, NOW + 12, "g")])
    assert await last_use(store) == (datetime.fromtimestamp(NOW + 14, UTC), "f")


async def test_a_backlog_is_drained_in_full_batches_in_one_pass(
    kit: Kit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("service.trust.journal.BATCH", 2)
    redis, key, store = kit.redis, kit.key, kit.store
    journal, trusted = kit.journal(), kit.trusted
    for jti in "abcde":
        assert await record(journal, trusted, jti)

    assert await journal.drain() == 5

    assert await written(store) == (list("abcde"), list("abcde"))
    assert await waiting(redis, key) == 0


class Observed:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.failed = asyncio.Event()
        self.backlogs: list[int] = []
        self.backlog_seen = asyncio.Event()

    def journaled(self, outcome: str, count: int) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + count

    def store_unavailable(self, store: str) -> None:
        assert store == "mint-journal"
        self.failed.set()

    def backlog(self, waiting: int) -> None:
        self.backlogs.append(waiting)
        self.backlog_seen.set()

    async def next_backlog(self) -> int:
        self.backlog_seen.clear()
        await asyncio.wait_for(self.backlog_seen.wait(), timeout=10)
        return self.backlogs[-1]


async def test_a_failing_drain_is_counted_and_retried_not_fatal(kit: Kit) -> None:
    seen = Observed()
    store = kit.store
    journal, trusted = kit.journal(observer=seen), kit.trusted
    assert await record(journal, trusted, "a")
    journal.writer.store = DownStore()  # type: ignore[assignment]
    drainer = asyncio.create_task(journal.drain_forever())
    try:
        await asyncio.wait_for(seen.failed.wait(), timeout=10)
        assert not drainer.done()  # it backs off and tries again
    finally:
        drainer.cancel()
        await asyncio.gather(drainer, return_exceptions=True)
    journal.writer.store = store
    await journal.drain()
    assert seen.counts == {"written": 1}


async def test_the_backlog_is_told_while_sql_is_down_and_once_it_drains(kit: Kit) -> None:
    """What an operator alerts on before the bound makes every mint a 503: the records
    waiting are read after every pass, a failed one included."""
    seen = Observed()
    store = kit.store
    journal, trusted = kit.journal(observer=seen), kit.trusted
    journal.writer.store = DownStore()  # type: ignore[assignment]
    for jti in "abc":
        assert await record(journal, trusted, jti)
    drainer = asyncio.create_task(journal.drain_forever())
    try:
        assert await seen.next_backlog() == 3
        assert seen.failed.is_set()
        journal.writer.store = store
        while await seen.next_backlog() != 0:
            pass
    finally:
        drainer.cancel()
        await asyncio.gather(drainer, return_exceptions=True)
    assert await written(store) == (list("abc"), list("abc"))


async def test_the_journal_is_counted_in_metrics(
    registry: Registry,
) -> None:
    async with app(registry) as (client, journal):
        assert journal is not None
        assert (await mint(client, registry.token())).status_code == 200
        await journal.drain()
        text = (await client.get("/metrics")).text
    assert 'mintgate_mint_journal_records_total{outcome="written"} 1.0' in text
    assert "mintgate_mint_journal_waiting 0.0" in text


class Swallowing:
    """A database call that turns its cancellation into an error of its own."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise OperationalError("COMMIT", {}, ConnectionResetError()) from None
        yield


async def test_the_drainer_stops_when_asked_even_if_a_library_swallows_it(kit: Kit) -> None:
    journal = kit.journal()
    assert await record(journal, kit.trusted, "a")
    swallowing = Swallowing()
    journal.writer.store = swallowing  # type: ignore[assignment]
    drainer = asyncio.create_task(journal.drain_forever())
    await asyncio.wait_for(swallowing.entered.wait(), timeout=10)

    drainer.cancel()
    done, _ = await asyncio.wait({drainer}, timeout=10)

    assert drainer in done
    assert drainer.cancelled()
