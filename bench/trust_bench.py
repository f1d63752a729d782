"""Trusted publishers from the database against the TOML file: mint cost, propagation, memory.

    .venv/bin/python bench/trust_bench.py [--levels 10,1000000] [--rounds 3] [--duration 4]
        [--runs 1]

The floor of this benchmark is mintgate on its file-only source (MINTGATE_TRUST_SOURCE
=toml: a dict lookup, no database on the path, no mint records), measured in the same
run. Against it, mintgate on the database source (the default) over PostgreSQL seeded
with each level's publishers (`mintgate bench seed`'s code, one database per level,
`mintgate_bench_<level>`, dropped at the end): the trust index in memory, the change
feed polled every 0.2 s, and every mint's audit, last-use and minted-token rows
recorded before the token is answered: in the mint journal, with the replay claim
(`db-<level>`, the default with Redis), or by group commit to SQL (`db-<level>-commit`,
MINTGATE_MINT_JOURNAL=off, first level only). Every server is measured in every
round, in turn (each round starting one server later): p50 at one connection,
requests/s at 16.

Nothing lost: once the servers have stopped, each database must hold exactly one
`mint` audit event and one minted_tokens row per 200 its servers answered.

Then, in this process, over the first level's database:
- propagation: a publisher added and removed through one store (replica A), timed
  until a second app's index (replica B, its own engine, following the feed) answers
  accordingly; p50 and max over --changes changes;
- memory: bytes per cached answer, loading --memory-keys distinct seeded keys.

Also printed: each round against the floor's round beside it (drift on a shared machine
moves both), and where a mint's CPU went @16: the server, the load generator, Redis and
PostgreSQL (every process of those names, from /proc). `--keep-db` keeps the seeded
databases; a later `--reuse-db` takes them instead of seeding again.

Aims (issue 19): database/TOML throughput @16 >= 0.9, p50 @1 <= 1.2x, judged on the
median of the paired ratios (each round against the floor's round beside it): on a
shared machine the speed of the whole drifts between rounds (the floor alone has moved
from 837 to 1,301 req/s within one run), and a pair measured seconds apart shares
most of that drift, where a ratio of the two medians does not. The ratio of the
medians is printed beside it. `--runs N` starts every server anew N times and pools
the rounds (bench/trust_report.py says why); each run's own median is printed too.
Exit status: 0 when every mint was a 200 and recorded once, 1 otherwise, 2 when setup
failed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from issuer import JWKSServer
from scale_lookup import _asks
from scale_setup import (
    PUBLISHER,
    Keys,
    add_bench_publisher,
    bench_redis,
    create_database,
    database_url,
    drop_database,
    forget,
    loadgen,
    make_keys,
    server,
    sign,
    sweep,
    write_issuers,
)
from servers import Server, ServerError, cpu_of
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from trust_report import STORES, Measured, index_counts, report

from service.commands.bench import ProgressBar
from service.issuers import load_issuers
from service.store import open_store
from service.store.engine import create_engine
from service.trust.index import TrustIndex
from service.trust.seed import Plan, seed
from service.trust.sql import SqlTrustFeed, SqlTrustStore
from service.trust.tables import publisher_spec


async def seeded(url: str) -> int:
    """Publishers in a kept database from an earlier run; 0 when there is none."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(text("SELECT count(*) FROM trusted_publishers"))
            return int(found or 0)
    except DBAPIError as exc:
        if f'database "{make_url(url).database}" does not exist' in str(exc):
            return 0
        raise
    finally:
        await engine.dispose()


def prepare(level: int, issuers_file: Path, *, reuse: bool) -> str:
    # Seeding 1,000,000 publishers takes about six minutes here: a run after one with
    # --keep-db may take its databases as they are (its own publisher included).
    if reuse and asyncio.run(seeded(database_url(level))) > level:
        print(f"reusing the {level:,} publishers kept by an earlier run", flush=True)
        return database_url(level)

    async def go() -> None:
        await create_database(level)
        await add_bench_publisher(database_url(level), issuers_file)
        engine = create_engine(database_url(level))
        try:
            await seed(engine, Plan(projects=level, publishers=level, issuers=1), ProgressBar())
        finally:
            await engine.dispose()

    print(f"seeding {level:,} projects and publishers", flush=True)
    asyncio.run(go())
    return database_url(level)


ANSWERED: dict[str, int] = {}  # 200s per server, warm-up included: each must be recorded


def phase(
    srv: Server, jtis: list[str], tokens: list[str], conns: int, secs: float, client: redis.Redis
) -> dict[str, Any]:
    cpu, stores = srv.cpu_seconds(), cpu_of(*STORES)
    result = loadgen(srv.port, tokens, conns, secs)
    stores_after = cpu_of(*STORES)
    minted = result["statuses"].get("200", 0)
    ANSWERED[srv.name] = ANSWERED.get(srv.name, 0) + minted
    server_cpu = srv.cpu_seconds() - cpu
    result["server_cpu"] = server_cpu / result["elapsed"]
    # Where each mint's CPU went, in microseconds: the server, the load generator, Redis,
    # PostgreSQL. All of them share the machine's cores, so a store's extra work can be
    # time the server does not get; the server's own share says whether it was saturated.
    seconds = {"server": server_cpu, "loadgen": result["client_cpu"] * result["elapsed"]}
    for command, name in STORES.items():
        seconds[name] = stores_after[command] - stores[command]
    result["us_per_mint"] = {name: used * 1e6 / max(minted, 1) for name, used in seconds.items()}
    forget(client, jtis)
    if result["non200"] or result["errors"]:
        print(f"  !! {srv.name}: {result['statuses']} {result['first_refusal'][:200]}", flush=True)
    return result


def measure(
    args: argparse.Namespace,
    servers: list[Server],
    jtis: list[str],
    tokens: list[str],
    client: redis.Redis,
) -> Measured:
    for srv in servers:  # warm: JWKS fetched, pools open, the index loaded
        phase(srv, jtis, tokens, 4, 2.0, client)
    measured: Measured = {}
    for index in range(args.rounds):
        # Each round starts one server later: no server is always measured first, or
        # always just after the one that loads PostgreSQL most.
        turn = index % len(servers)
        for srv in servers[turn:] + servers[:turn]:
            latency = phase(srv, jtis, tokens, 1, args.duration, client)
            throughput = phase(srv, jtis, tokens, 16, args.duration, client)
            measured.setdefault(srv.name, []).append((latency, throughput))
            print(
                f"  round {index + 1} {srv.name:<20} p50 @1 {latency['p50_ms']:.3f} ms"
                f"  {throughput['rps']:,.0f} req/s @16 (server {throughput['server_cpu']:.0%})",
                flush=True,
            )
    return measured


async def recorded(url: str) -> tuple[int, int]:
    """The `mint` audit events and minted_tokens rows in this database."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            events = await conn.scalar(
                text("SELECT count(*) FROM audit_events WHERE event = 'mint'")
            )
            tokens = await conn.scalar(text("SELECT count(*) FROM minted_tokens"))
    finally:
        await engine.dispose()
    return int(events or 0), int(tokens or 0)


async def propagation(url: str, issuers_file: Path, changes: int) -> list[float]:
    """Seconds from a change committed through store A to replica B's index agreeing."""
    issuers = load_issuers(issuers_file, audience="mintgate", leeway=30)
    a, b = await open_store(url), await open_store(url)
    index = TrustIndex(SqlTrustStore(b, issuers), SqlTrustFeed(b))
    follower = asyncio.create_task(index.follow())
    table = {**PUBLISHER, "repository": "octo-org/propagation"}
    _, spec = publisher_spec(table, issuers)
    times: list[float] = []
    try:
        async with a.transaction() as tx:
            project = await tx.project_by_name("sampleproject")
            assert project is not None
        await index.caught_up()
        for n in range(changes):
            adding = n % 2 == 0
            assert bool(await index.publishers_for(spec.issuer, spec.lookup_key)) != adding
            async with a.transaction() as tx:
                if adding:
                    added = await tx.add_publisher(
                        project.id, spec, source="api", created_by=None, now=datetime.now(UTC)
                    )
                else:
                    await tx.delete_publisher(project.id, added.id)
            committed = time.perf_counter()
            # A benchmark's poll at 5 ms, far below what it measures (~200 ms).
            while bool(await index.publishers_for(spec.issuer, spec.lookup_key)) != adding:  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            times.append(time.perf_counter() - committed)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await index.aclose()
        await a.close()
        await b.close()
    return times


async def memory(url: str, level: int, issuers_file: Path, keys: int) -> float:
    """Bytes of Python heap per cached answer, over `keys` distinct seeded publishers."""
    issuers = load_issuers(issuers_file, audience="mintgate", leeway=30)
    asks = _asks(level, issuers, keys)
    store = await open_store(url)
    index = TrustIndex(SqlTrustStore(store, issuers), SqlTrustFeed(store), max_keys=keys * 2)
    try:
        await index.caught_up()
        await index.publishers_for(*asks[0])
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for ask in asks[1:]:
            await index.publishers_for(*ask)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        held = len(index) - 1
    finally:
        await index.aclose()
        await store.close()
    return (after - before) / max(held, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="10,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument(
        "--runs", type=int, default=1, help="times to start every server anew, rounds pooled"
    )
    parser.add_argument("--pool", type=int, default=60_000)
    parser.add_argument("--changes", type=int, default=40)
    parser.add_argument("--memory-keys", type=int, default=20_000)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--profile", type=Path, help="py-spy each server into DIR/NAME.folded")
    parser.add_argument(
        "--reuse-db", action="store_true", help="take the databases an earlier --keep-db kept"
    )
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    client = bench_redis()
    if client is None:
        return 2
    print(f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    sweep(client)
    with tempfile.TemporaryDirectory(prefix="mintgate-trust-") as tmp:
        work = Path(tmp)
        keys = make_keys(work)
        with JWKSServer(keys.jwks) as jwks:
            issuers_file = write_issuers(work, 1, jwks)
            urls = {level: prepare(level, issuers_file, reuse=args.reuse_db) for level in levels}
            before = {level: asyncio.run(recorded(url)) for level, url in urls.items()}
            jtis, tokens = sign(keys, args.pool, 4 * 3600)
            runs: list[Measured] = []
            lookups: list[dict[str, dict[str, int]]] = []
            for run in range(args.runs):
                if args.runs > 1:
                    print(f"run {run + 1} of {args.runs}: every server started anew", flush=True)
                servers = make_servers(args, work, keys, issuers_file, urls, run)
                try:
                    for srv in servers:
                        srv.start()
                    for srv in servers:
                        srv.wait_ready(timeout=180)
                    runs.append(measure(args, servers, jtis, tokens, client))
                    lookups.append(
                        {srv.name: index_counts(srv) for srv in servers if srv.name != "toml"}
                    )
                except ServerError as exc:
                    print(f"setup failed: {exc}", file=sys.stderr)
                    return 2
                finally:
                    for srv in servers:
                        srv.stop()
            bad = sum(p["non200"] for measured in runs for rounds in measured.values()
                      for pair in rounds for p in pair)  # fmt: skip
            # Stopped: every drainer has written what it took (and the rest waits for none).
            lost = []
            for level, url in urls.items():
                prefix = f"db-{level:,}"
                answered = sum(n for name, n in ANSWERED.items() if name.startswith(prefix))
                after = asyncio.run(recorded(url))
                got = (after[0] - before[level][0], after[1] - before[level][1])
                print(f"{prefix}: {answered:,} tokens answered, recorded {got}")
                if got != (answered, answered):
                    lost.append(level)
            times = asyncio.run(propagation(urls[levels[0]], issuers_file, args.changes))
            largest = max(levels)
            per_key = asyncio.run(
                memory(urls[largest], largest, issuers_file, min(args.memory_keys, largest))
            )
    if not args.keep_db:
        for level in levels:
            asyncio.run(drop_database(level))
    sweep(client)
    print()
    print(
        f"mint-token, {args.runs} run(s) of {args.rounds} alternating rounds of"
        f" {args.duration:g} s per phase;"
    )
    print("floor: the TOML source in the same run. Database: PostgreSQL and the trust index;")
    print("records in the mint journal (db-N) or by group commit to SQL (db-N-commit)")
    print("\n".join(report(runs, "toml")))
    for run, counts in enumerate(lookups, 1):
        print(
            f"trust index lookups per database server (/metrics), run {run}: "
            + "; ".join(
                f"{name} " + ", ".join(f"{label} {n:,}" for label, n in found.items())
                for name, found in counts.items()
            )
        )
    print(
        f"propagation A -> B over {len(times)} changes (half additions, half removals):"
        f" p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms"
    )
    print(f"index memory: {per_key:,.0f} bytes per cached answer (one publisher each)")
    print(f"  at 1,000,000 publishers all cached: {per_key * 1e6 / 2**30:.1f} GiB per process")
    print(f"responses not 200: {bad}; levels whose records do not match the answers: {lost}")
    return 1 if bad or lost else 0


def make_servers(
    args: argparse.Namespace,
    work: Path,
    keys: Keys,
    issuers_file: Path,
    urls: dict[int, str],
    run: int,
) -> list[Server]:
    """The floor, a database server per level, and the first level's group-commit one."""
    first = next(iter(urls))
    floor = server("toml", work, keys, issuers_file, urls[first], BENCH_TRUST_SOURCE="toml")
    servers = [floor] + [
        server(f"db-{level:,}", work, keys, issuers_file, url) for level, url in urls.items()
    ]
    off = {"BENCH_MINT_JOURNAL": "off"}
    servers.append(server(f"db-{first:,}-commit", work, keys, issuers_file, urls[first], **off))
    if args.profile is not None:  # py-spy: where each server's CPU goes
        args.profile.mkdir(parents=True, exist_ok=True)
        suffix = f"-{run + 1}" if args.runs > 1 else ""
        for srv in servers:
            srv.profile = args.profile / f"{srv.name}{suffix}.folded"
    return servers


if __name__ == "__main__":
    raise SystemExit(main())
