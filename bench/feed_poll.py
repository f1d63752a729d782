"""What one poll of the trust change feed costs the process that makes it.

    .venv/bin/python bench/feed_poll.py [--polls 2000] [--rounds 3]

Every worker on the database trust source polls the feed five times a second
(service/trust/index.py), loaded or idle, so its cost is paid by the second, not by
the mint. The floor is the same read made the way the rest of the store works: a
pooled session and its transaction (checkout with the pool's ping, BEGIN, the
SELECT of the feed's state row, COMMIT). Against it, `SqlTrustFeed.read` as the
index calls it: the store's FeedReader, one statement on a connection it keeps, in
autocommit. Both on PostgreSQL (a database of the bench's own, `mintgate_bench_0`,
dropped at the end), with no change to list, as in the steady state.

Printed: CPU and wall microseconds per poll (medians over rounds, in alternation),
the ratio to the floor, and what five polls a second cost a worker's core.

Then a new worker's first poll over a backlog of `--backlog` changes (a bulk sync of
a million publishers leaves that many until `db sweep` trims them an hour later): it
reads the first 10,000 and drops everything, and it must finish well inside the
index's bound (1 s), or the worker could never make its index current.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import uvloop
from scale_setup import create_database, database_url, drop_database
from sqlalchemy import select, text

from service.store import SqlStore, open_store
from service.store.models_trustfeed import TrustState
from service.trust.index import FEED_LIMIT
from service.trust.sql import SqlTrustFeed

LEVEL = 0  # the database's name only: no publisher is seeded
POLLS_PER_SECOND = 5


async def in_a_transaction(store: SqlStore) -> None:
    async with store.transaction() as tx:
        query = select(TrustState.version, TrustState.trimmed_through)
        (await tx.session.execute(query.where(TrustState.id == 1))).one()  # type: ignore[attr-defined]


async def timed(poll: Callable[[], Awaitable[object]], polls: int) -> tuple[float, float]:
    """CPU and wall microseconds per poll."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(polls):
        await poll()
    return (
        (time.process_time() - cpu) / polls * 1e6,
        (time.perf_counter() - wall) / polls * 1e6,
    )


async def first_poll(store: SqlStore, backlog: int) -> float:
    """Milliseconds of a first poll (since 0) once `backlog` changes wait in the feed."""
    async with store.transaction() as tx:
        session = tx.session  # type: ignore[attr-defined]
        await session.execute(
            text(
                "INSERT INTO trust_changes (version, issuer, lookup_key, changed_at)"
                " SELECT n, 'https://token.actions.githubusercontent.com',"
                " 'octo-org/p' || n, 0 FROM generate_series(1, :backlog) AS n"
            ),
            {"backlog": backlog},
        )
        await session.execute(text("UPDATE trust_state SET version = :v"), {"v": backlog})
    async with store.engine.connect() as conn:
        await conn.execute(text("ANALYZE trust_changes"))
        await conn.commit()
    feed = SqlTrustFeed(store)
    started = time.perf_counter()
    read = await feed.read(0, limit=FEED_LIMIT)
    elapsed = (time.perf_counter() - started) * 1000
    if not read.truncated or read.version != backlog:
        raise SystemExit(f"the first poll read {read.version}, truncated={read.truncated}")
    return elapsed


async def measure(polls: int, rounds: int, backlog: int) -> None:
    store = await open_store(database_url(LEVEL))
    feed = SqlTrustFeed(store)
    ways: dict[str, Callable[[], Awaitable[object]]] = {
        "transaction (floor)": lambda: in_a_transaction(store),
        "feed reader": lambda: feed.read(0, limit=FEED_LIMIT),
    }
    try:
        for poll in ways.values():  # warm: connections open, statements prepared
            await timed(poll, polls // 10)
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
        for _ in range(rounds):
            for name, poll in ways.items():
                figures[name].append(await timed(poll, polls))
        first = await first_poll(store, backlog)
    finally:
        await store.close()
    floor_cpu = statistics.median(cpu for cpu, _ in figures["transaction (floor)"])
    print(f"{'read':<22}{'CPU us':>9}{'wall us':>9}{'CPU ratio':>11}{'core at 5/s':>13}")
    for name, runs in figures.items():
        cpu = statistics.median(c for c, _ in runs)
        wall = statistics.median(w for _, w in runs)
        share = cpu * POLLS_PER_SECOND / 1e6
        print(f"{name:<22}{cpu:>9,.0f}{wall:>9,.0f}{cpu / floor_cpu:>11.2f}{share:>13.2%}")
    print(f"a first poll over a backlog of {backlog:,} changes: {first:,.1f} ms (bound 1,000 ms)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backlog", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    asyncio.run(create_database(LEVEL))
    try:
        uvloop.run(measure(args.polls, args.rounds, args.backlog))
    finally:
        asyncio.run(drop_database(LEVEL))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
