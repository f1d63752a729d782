"""Registry scale: mint-token cost as the configuration grows, against its smallest size.

    .venv/bin/python bench/scale_bench.py [--levels 10,10000,1000000] [--issuers 5000]
        [--rounds 2] [--duration 5] [--redis-mints 100000] [--plot bench/scale_latency.png]

Creates one PostgreSQL database per level, `mintgate_bench_<level>` (dropped
at the end unless --keep-db), each seeded with `mintgate bench seed`'s code
(one project per publisher, publishers spread over --issuers issuers), and
runs two mintgate servers on each: one configured with GitHub's issuer only,
one with --issuers issuers (GitHub's, and self-managed GitLab and custom
issuers). Every configuration is measured in every round, in turn, so load
that comes and goes on the machine falls on all of them alike: p50/p99 at one
connection, requests/s at 16 connections. Then: an online migration under
load at the largest level (scale_migration.py), the lookup alone in process
(scale_lookup.py), the JWKS cache's memory per issuer, and Redis memory per
consumed jti over --redis-mints mints (scale_memory.py). Ratios are against
the smallest configuration measured in this run (the first level, one issuer).

Exit status: 0 when every mint was a 200, 1 when any was not, 2 when setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import redis
from issuer import JWKSServer
from scale_lookup import lookup_stage
from scale_memory import jwks_memory, redis_growth
from scale_migration import online_migration
from scale_setup import (
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
from servers import Server, ServerError

from service.commands.bench import ProgressBar
from service.store.engine import create_engine
from service.trust.seed import Plan, seed

BENCH = Path(__file__).resolve().parent
AIM_P50_RATIO = 1.2


def prepare(level: int, issuers: int, issuers_file: Path) -> str:
    """A database of its own for this level, seeded: its URL."""

    async def go() -> None:
        await create_database(level)
        await add_bench_publisher(database_url(level), issuers_file)
        engine = create_engine(database_url(level))
        try:
            plan = Plan(projects=level, publishers=level, issuers=issuers)
            await seed(engine, plan, ProgressBar())
        finally:
            await engine.dispose()

    print(f"seeding {level:,} projects and publishers over {issuers:,} issuers", flush=True)
    asyncio.run(go())
    return database_url(level)


Config = tuple[int, int, Server]  # (publishers level, issuers configured, its server)


def _phase(
    srv: Server, jtis: list[str], tokens: list[str], conns: int, secs: float, client: redis.Redis
) -> dict[str, Any]:
    cpu = srv.cpu_seconds()
    result = loadgen(srv.port, tokens, conns, secs)
    result["server_cpu"] = (srv.cpu_seconds() - cpu) / result["elapsed"]
    forget(client, jtis)
    if result["non200"] or result["errors"]:
        print(
            f"  !! {srv.name}: {result['statuses']} {result['errors']}"
            f" first: {result['first_refusal'][:200]}",
            flush=True,
        )
    if result["exhausted"]:
        print(f"  !! {srv.name}: token pool exhausted; raise the pool size", flush=True)
    return result


def measure(
    args: argparse.Namespace, configs: list[Config], keys: Keys, client: redis.Redis
) -> list[dict[str, Any]]:
    jtis, tokens = sign(keys, args.pool, 4 * 3600)
    for _, _, srv in configs:  # warm: JWKS fetched, pools open, the rows' pages read
        _phase(srv, jtis, tokens, 4, 2.0, client)
    measured: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for index in range(args.rounds):
        for level, issuers, srv in configs:
            latency = _phase(srv, jtis, tokens, 1, args.duration, client)
            throughput = _phase(srv, jtis, tokens, 16, args.duration, client)
            measured.setdefault(srv.name, []).append((latency, throughput))
            print(
                f"  round {index + 1} {level:>9,} publishers {issuers:>5,} issuers:"
                f" p50 {latency['p50_ms']:.2f} ms p99 {latency['p99_ms']:.2f} ms"
                f" {throughput['rps']:,.0f} req/s @16",
                flush=True,
            )
    return [_row(level, issuers, measured[srv.name]) for level, issuers, srv in configs]


def _row(
    level: int, issuers: int, measured: list[tuple[dict[str, Any], dict[str, Any]]]
) -> dict[str, Any]:
    def med(phase: int, key: str) -> float:
        return float(statistics.median(m[phase][key] for m in measured))

    return {
        "publishers": level + 1,  # the seeded ones and the bench's own
        "issuers": issuers,
        "p50_ms": med(0, "p50_ms"),
        "p99_ms": med(0, "p99_ms"),
        "rps": med(1, "rps"),
        "server_cpu": med(1, "server_cpu"),
        "non200": sum(int(m[0]["non200"]) + int(m[1]["non200"]) for m in measured),
    }


def report(rows: list[dict[str, Any]], extra: dict[str, Any]) -> list[str]:
    base = rows[0]
    lines = [
        f"{'publishers':>11} {'issuers':>7} {'p50 ms':>7} {'p99 ms':>7} {'req/s@16':>9}"
        f" {'p50 x':>6} {'p99 x':>6} {'req/s x':>7}"
    ]
    for r in rows:
        lines.append(
            f"{r['publishers']:>11,} {r['issuers']:>7,} {r['p50_ms']:>7.2f}"
            f" {r['p99_ms']:>7.2f} {r['rps']:>9,.0f} {r['p50_ms'] / base['p50_ms']:>6.2f}"
            f" {r['p99_ms'] / base['p99_ms']:>6.2f} {r['rps'] / base['rps']:>7.2f}"
        )
    # The aim: p50 at the largest level within AIM_P50_RATIO of p50 at the smallest,
    # with the same issuers configured.
    small, large = min(r["publishers"] for r in rows), max(r["publishers"] for r in rows)
    for issuers in sorted({r["issuers"] for r in rows}):
        at = {r["publishers"]: r for r in rows if r["issuers"] == issuers}
        ratio = at[large]["p50_ms"] / at[small]["p50_ms"]
        verdict = "PASS" if ratio <= AIM_P50_RATIO else "MISS"
        lines.append(
            f"p50 at {large:,} / p50 at {small:,} publishers, {issuers:,} issuer(s):"
            f" {ratio:.2f} (aim <= {AIM_P50_RATIO}): {verdict}"
        )
    lookups = extra.get("lookup")
    if lookups:
        first = lookups[0]
        for r in lookups:
            lines.append(
                f"publishers_for alone at {r['publishers']:>9,} publishers:"
                f" p50 {r['p50_ms']:.3f} ms ({r['p50_ms'] / first['p50_ms']:.2f}x),"
                f" p99 {r['p99_ms']:.3f} ms ({r['p99_ms'] / first['p99_ms']:.2f}x)"
                f" over {r['calls']:,} calls"
            )
    jwks = extra.get("jwks")
    if jwks:
        lines.append(
            f"JWKS cache: {jwks['bytes_per_issuer_1_key'] / 1024:.1f} KiB per issuer"
            f" with 1 key, {jwks['bytes_per_issuer_max_keys'] / 1024:.1f} KiB with"
            f" {jwks['max_keys']} (the most a JWKS may hold); bound for"
            f" {jwks['issuers']:,} issuers {jwks['bound_bytes'] / 2**20:.1f} MiB"
        )
    migration = extra.get("migration")
    if migration:
        for name, m in migration.items():
            lines.append(
                f"migration {name:<6}: build {m['build_seconds']:.1f} s under load;"
                f" {m['mints']:,} mints, slowest {m['max_ms']:.0f} ms,"
                f" p99 {m['p99_ms']:.1f} ms, non-200 {m['non200']}"
            )
    red = extra.get("redis")
    if red:
        lines.append(
            f"redis: {red['mints']:,} mints in {red['mint_seconds']:.0f} s;"
            f" {red['bytes_per_record']:.0f} B per replay record (MEMORY USAGE);"
            f" peak {red['peak_records']:,.0f} live records,"
            f" {red['peak_memory_bytes'] / 2**20:.1f} MiB; {red['records_at_end']:,.0f}"
            f" left {red['seconds_to_empty_after_last_mint']:.0f} s after the last mint"
            f" (lifetime {red['lifetime_s']} s + leeway {red['leeway_s']} s)"
        )
    return lines


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for color, issuers in zip(["C0", "C3"], sorted({r["issuers"] for r in rows}), strict=False):
        mine = [r for r in rows if r["issuers"] == issuers]
        xs = [r["publishers"] for r in mine]
        label = f"{issuers:,} issuer" + ("s" if issuers > 1 else "")
        axes.plot(xs, [r["p50_ms"] for r in mine], "o-", color=color, label=f"p50, {label}")
        axes.plot(xs, [r["p99_ms"] for r in mine], "s--", color=color, label=f"p99, {label}")
    axes.set_xscale("log")
    axes.set_ylim(bottom=0)
    axes.set_xlabel("trusted publishers in PostgreSQL (one project each)")
    axes.set_ylabel("mint-token latency at 1 connection (ms)")
    axes.set_title("mintgate mint-token latency against registry size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="10,10000,1000000")
    parser.add_argument("--issuers", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--pool", type=int, default=30_000, help="tokens per phase, at most")
    parser.add_argument("--redis-mints", type=int, default=100_000)
    parser.add_argument("--redis-lifetime", type=int, default=60)
    parser.add_argument("--migration-load", type=float, default=30.0, help="seconds; 0: skip")
    parser.add_argument("--plot", type=Path, default=BENCH / "scale_latency.png")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--replot", type=Path, default=None, help="only redraw from --json output")
    args = parser.parse_args(argv)
    args.levels = [int(v) for v in args.levels.split(",")]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.replot is not None:
        plot(json.loads(args.replot.read_text(encoding="utf-8"))["rows"], args.plot)
        return 0
    client = bench_redis()
    if client is None:
        return 2
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python"
        f" {platform.python_version()}",
        flush=True,
    )
    sweep(client)
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mintgate-scale-") as tmp:
        work = Path(tmp)
        keys = make_keys(work)
        with JWKSServer(keys.jwks) as jwks:
            one, many = write_issuers(work, 1, jwks), write_issuers(work, args.issuers, jwks)
            urls = {level: prepare(level, args.issuers, one) for level in args.levels}
            configs: list[Config] = [
                (level, k, server(f"p{level}-k{k}", work, keys, path, urls[level]))
                for level in args.levels
                for k, path in ((1, one), (args.issuers, many))
            ]
            try:
                for _, _, srv in configs:
                    srv.start()
                for _, _, srv in configs:
                    srv.wait_ready(timeout=180)
                print(f"{len(configs)} servers up; {load_average()}", flush=True)
                rows = measure(args, configs, keys, client)
                print(f"measured; {load_average()}", flush=True)
                if args.migration_load > 0:
                    largest = configs[-2]  # the largest level, one issuer
                    extra["migration"] = online_migration(
                        largest[2], urls[largest[0]], keys, client, args.migration_load
                    )
            except ServerError as exc:
                print(f"setup failed: {exc}", file=sys.stderr)
                return 2
            finally:
                for _, _, srv in configs:
                    srv.stop()
            print("the lookup alone, in process, every level in turn", flush=True)
            extra["lookup"] = lookup_stage(urls, many)
            extra["jwks"] = jwks_memory(args.issuers)
            if args.redis_mints > 0:
                extra["redis"] = _redis_phase(args, work, keys, one, client)
    if not args.keep_db:
        for level in args.levels:
            asyncio.run(drop_database(level))
    sweep(client)
    lines = report(rows, extra)
    print("\n".join(lines))
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows, **extra}, indent=1), encoding="utf-8")
    if args.plot is not None:
        plot(rows, args.plot)
        print(f"plot: {args.plot}")
    bad = (
        sum(r["non200"] for r in rows)
        + sum(m["non200"] for m in extra.get("migration", {}).values())
        + int(extra.get("redis", {}).get("refused", 0))
    )
    return 1 if bad else 0


def _redis_phase(
    args: argparse.Namespace, work: Path, keys: Keys, issuers: Path, client: redis.Redis
) -> dict[str, Any]:
    # The TOML trust store: this phase measures Redis, so nothing else should slow it.
    leeway = 5
    url = database_url(args.levels[0])  # unused by the TOML store, but opened by the app
    srv = server(
        "redis", work, keys, issuers, url, BENCH_TRUST_SOURCE="toml", BENCH_LEEWAY=str(leeway)
    )
    srv.start()
    try:
        srv.wait_ready(timeout=60)
        return redis_growth(
            srv,
            keys,
            client,
            mints=args.redis_mints,
            chunk=5_000,
            lifetime=args.redis_lifetime,
            leeway=leeway,
        )
    finally:
        srv.stop()


if __name__ == "__main__":
    raise SystemExit(main())
