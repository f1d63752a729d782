"""CPU per mint on the database source against the file-only source, in one process.

    .venv/bin/python bench/trust_cpu.py [--level 10] [--n 1500] [--rounds 4]

trust_bench.py measures throughput through real servers; on two shared cores its
ratios move by several percent from run to run. This one calls both apps as ASGI
applications in one process (bench/inprocess.py's driver, 16 requests in flight)
and reads the process's CPU per mint (`time.process_time`), the database app's
mint-journal drain included: each of its rounds ends with a drain of whatever its
own drainer has not yet written. Redis and PostgreSQL run in other processes and
are not counted, as a server's own CPU would not count them.

Time in Python's cyclic garbage collector is counted apart: both apps share one
heap here, so a full collection (tens of milliseconds) lands on whichever app
happens to be running. The ratio without it is the one to read.

Aim (issue 19): file/database CPU per mint >= 0.9. Exit status 1 when a mint was
not a 200 or the records do not match the answers, 2 when setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from inprocess import App, call, lifespan_start
from issuer import JWKSServer
from scale_setup import (
    PUBLISHERS_TOML,
    REDIS_URL,
    bench_redis,
    drop_database,
    make_keys,
    sign,
    sweep,
    write_issuers,
)
from trust_bench import prepare, recorded

CONCURRENCY = 16


class Collector:
    """Seconds spent in the cyclic garbage collector, from gc.callbacks."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._observe)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


async def round_of(
    app: App, bodies: list[bytes], journal: Any, gc_time: Collector
) -> tuple[float, float]:
    """CPU and GC microseconds per mint over `bodies`, drain included."""
    collected = gc_time.seconds
    start = time.process_time()
    for first in range(0, len(bodies), CONCURRENCY):
        batch = bodies[first : first + CONCURRENCY]
        for status in await asyncio.gather(*(call(app, body) for body in batch)):
            if status != 200:
                raise SystemExit(f"a mint answered {status}: the bench measures successful mints")
    if journal is not None:
        await journal.drain()
    cpu = (time.process_time() - start) / len(bodies) * 1e6
    return cpu, (gc_time.seconds - collected) / len(bodies) * 1e6


async def stop_the_clock(app: App) -> None:
    """Stop what an app does by the clock (the trust feed's poll, the journal's drain
    pass after its linger), for runs whose length says nothing about a mint's cost
    (bench/trust_instructions.py: under valgrind a mint takes fifty times as long, so
    clock-driven work would be counted fifty times over). The index is kept current as
    of its last poll; each round still ends with its own drain, in batches as large
    as the drainer's under load."""
    clocked = {"drain_forever", "follow"}
    tasks = [t for t in asyncio.all_tasks() if t.get_coro().__name__ in clocked]  # type: ignore[union-attr]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    index = app.state.trust_index  # type: ignore[attr-defined]
    if index is not None:
        index.bound = float("inf")


async def measure(
    args: argparse.Namespace, work: Path, url: str, issuers: Path, keys: Any, tokens: list[str]
) -> int:
    import scale_app

    publishers = work / "publishers.toml"
    publishers.write_text(PUBLISHERS_TOML, encoding="utf-8")
    base = {
        "BENCH_ISSUERS_FILE": str(issuers),
        "BENCH_DATABASE_URL": url,
        "BENCH_PUBLISHERS_FILE": str(publishers),
        "BENCH_SIGNING_KEY": str(keys.signing_key),
        "BENCH_REDIS_URL": REDIS_URL,
        "BENCH_LEEWAY": "30",
    }
    apps: dict[str, Any] = {}
    for name, source in (("file", "toml"), ("database", "database")):
        if name not in args.apps:
            continue
        os.environ.update(base, BENCH_TRUST_SOURCE=source)
        apps[name] = scale_app.create_app()
        await lifespan_start(apps[name])
    bodies = [json.dumps({"token": t}).encode() for t in tokens]
    gc_time = Collector()
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    without_gc: dict[str, list[float]] = {name: [] for name in apps}
    for index in range(args.rounds + 1):  # the first round warms up
        for name, app in apps.items():
            size = args.n if index else args.warm
            batch, bodies = bodies[:size], bodies[size:]
            journal = app.state.mint_journal if name == "database" else None
            used, collecting = await round_of(app, batch, journal, gc_time)
            if not index and args.still:
                await stop_the_clock(app)
            if index:
                cpu[name].append(used)
                without_gc[name].append(used - collecting)
                print(
                    f"round {index} {name:<9} {used:7.1f} us/mint, of which GC {collecting:5.1f}",
                    flush=True,
                )
    got = await recorded(url)
    answered = args.n * args.rounds + args.warm if "database" in apps else 0
    print(f"database app: {answered:,} mints answered, recorded {got}")
    if len(apps) < 2:
        return 0 if got == (answered, answered) else 1
    for label, figures in (("CPU per mint", cpu), ("without GC", without_gc)):
        file, database = (statistics.median(figures[name]) for name in ("file", "database"))
        print(
            f"{label:<13} file {file:7.1f} us, database {database:7.1f} us,"
            f" file/database {file / database:.3f}"
        )
    return 0 if got == (answered, answered) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--level", type=int, default=10, help="publishers seeded")
    parser.add_argument("--n", type=int, default=1500, help="mints per round and app")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--still", action="store_true", help="stop the apps' clock-driven work after warming"
    )
    parser.add_argument("--warm", type=int, help="mints per app in the warm-up round (--n)")
    parser.add_argument(
        "--apps",
        default="file,database",
        help="which apps to build and measure (one alone for bench/trust_instructions.py)",
    )
    args = parser.parse_args(argv)
    args.apps = args.apps.split(",")
    args.warm = args.n if args.warm is None else args.warm
    client = bench_redis()
    if client is None:
        return 2
    sweep(client)
    try:
        with tempfile.TemporaryDirectory(prefix="mintgate-trust-cpu-") as tmp:
            work = Path(tmp)
            keys = make_keys(work)
            with JWKSServer(keys.jwks) as jwks:
                issuers = write_issuers(work, 1, jwks)
                url = prepare(args.level, issuers, reuse=False)
                # Signed before the apps start: signing thousands blocks the loop for seconds.
                _, tokens = sign(keys, (args.n * args.rounds + args.warm) * 2, 4 * 3600)
                return uvloop.run(measure(args, work, url, issuers, keys, tokens))
    finally:
        asyncio.run(drop_database(args.level))
        sweep(client)


if __name__ == "__main__":
    raise SystemExit(main())
