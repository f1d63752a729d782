"""mint-token throughput and latency of mintgate against a floor measured in the same run.

    .venv/bin/python bench/mint_bench.py [--rounds 3] [--duration 3] [--app-log] [--profile DIR]

Starts a loopback JWKS server, the floor app and mintgate (each one uvicorn
worker, uvloop, httptools, no access log), pre-signs distinct OIDC tokens,
then alternates floor and mintgate rounds. Each round measures requests/s at
16 connections, tail latency at 64 connections under an open-loop load of half
the floor's throughput (`--busy-load`), and latency at 1 connection
with `loadgen.py` in its own process. Prints every round, the medians, the
mintgate/floor ratios and the aims (throughput ratio >= 0.9, p50 < 1 ms at one
connection, p99 < 20 ms at 64).

Exit status: 0 when every response was 200 (PASS or MISS alike), 1 when any
was not (a benchmark of refusals measures nothing), 2 when setup failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from issuer import GITHUB, JWKSServer, make_tokens, write_issuers, write_keys
from profile_report import summarize
from servers import Server, ServerError

from service.replay import replay_key

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
REDIS_URL = "redis://127.0.0.1:6379/14"
FLOOR_PREFIX = "benchfloor:jti:"  # floor_app.REPLAY_PREFIX
# Every key this benchmark may leave in db 14: the floor's replay records, and
# mintgate's replay records and shared JWKS document.
OWN_PATTERNS = ("benchfloor:jti:*", "mintgate:jti:*", "mintgate:jwks:*")
TOKEN_LIFETIME = 900
AIM_RATIO = 0.9
AIM_P50_MS = 1.0
AIM_P99_BUSY_MS = 20.0


class BenchError(Exception):
    pass


@dataclass
class Round:
    server: str
    index: int
    throughput: dict[str, Any]
    latency: dict[str, Any]
    server_cpu: float  # cores used during the throughput phase
    redis_cpu: float
    busy: dict[str, Any]  # the phase at --busy connections (64): its tail latency

    @property
    def phases(self) -> tuple[dict[str, Any], ...]:
        return (self.throughput, self.busy, self.latency)

    @property
    def non200(self) -> int:
        return sum(int(p["non200"]) for p in self.phases)


@dataclass
class Results:
    rounds: list[Round] = field(default_factory=list)

    def of(self, server: str) -> list[Round]:
        return [r for r in self.rounds if r.server == server]

    def median(self, server: str, phase: str, key: str) -> float:
        return float(statistics.median(getattr(r, phase)[key] for r in self.of(server)))


def loadgen(
    port: int, tokens: Path, connections: int, duration: float, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """`loadgen.py` in its own process; `extra`: its other flags (--path, --burst ...)."""
    completed = subprocess.run(
        [sys.executable, str(BENCH / "loadgen.py"), "--port", str(port), "--tokens", str(tokens),
         "--connections", str(connections), "--duration", str(duration), *extra],
        capture_output=True, timeout=duration + 60, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise BenchError(f"loadgen failed: {completed.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


def forget(client: redis.Redis, server: str, jtis: Sequence[str]) -> None:
    """Delete the replay records this server wrote, so the next phase can reuse the pool."""
    names = [FLOOR_PREFIX + jti if server == "floor" else replay_key(GITHUB, jti) for jti in jtis]
    for start in range(0, len(names), 5000):
        client.unlink(*names[start : start + 5000])


def redis_cpu_seconds(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def sweep(client: redis.Redis) -> int:
    removed = 0
    for pattern in OWN_PATTERNS:
        names = list(client.scan_iter(match=pattern, count=5000))
        for start in range(0, len(names), 5000):
            removed += int(client.unlink(*names[start : start + 5000]))
    return removed


def phase(
    server: Server, tokens: Path, connections: int, duration: float, rate: float | None = None
) -> dict[str, Any]:
    result = loadgen(
        server.port,
        tokens,
        connections,
        duration,
        () if rate is None else ("--rate", f"{rate:.0f}"),
    )
    if result["non200"] or result["errors"]:
        print(
            f"  !! {server.name}: {result['non200']} non-200 {result['statuses']},"
            f" errors {result['errors']}, first: {result['first_refusal'][:200]}",
            flush=True,
        )
    if result["exhausted"]:
        print(f"  !! {server.name}: token pool ran out; raise --pool", flush=True)
    return result


def run(args: argparse.Namespace, work: Path) -> Results:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {REDIS_URL} does not answer: {exc}") from None
    print(f"swept {sweep(client)} leftover bench keys from {REDIS_URL}", flush=True)

    files = write_keys(work)
    with JWKSServer(files.jwks.read_bytes()) as jwks:
        write_issuers(files, jwks.url)
        started = time.monotonic()
        jtis, tokens, expires = make_tokens(files, args.pool, lifetime=TOKEN_LIFETIME)
        pool = work / "tokens.txt"
        pool.write_text("\n".join(tokens), encoding="ascii")
        print(f"signed {len(tokens)} RS256 tokens in {time.monotonic() - started:.1f}s", flush=True)

        env = {
            **os.environ,
            "BENCH_JWKS_FILE": str(files.jwks),
            "BENCH_SIGNING_KEY": str(files.signing_key),
            "BENCH_REDIS_URL": REDIS_URL,
            "BENCH_ISSUERS_FILE": str(files.issuers),
            "BENCH_PUBLISHERS_FILE": str(args.publishers),
        }
        if args.app_log:
            env |= {"BENCH_APP_LOG": "1", "BENCH_APP_LOG_FILE": str(work / "mintgate-app.log")}
        servers = [
            Server(
                name,
                f"{name}_app:create_app",
                env,
                work / f"{name}.log",
                args.profile / f"{name}.folded" if args.profile else None,
            )
            for name in ("floor", "mintgate")
        ]
        results = Results()
        try:
            for server in servers:
                server.start()
            for server in servers:
                server.wait_ready()
                warm = phase(server, pool, 4, 1.0)
                forget(client, server.name, jtis)
                if warm["non200"] or warm["errors"]:
                    raise BenchError(f"{server.name} refuses the bench tokens; nothing to measure")
            print(f"warmed up; JWKS fetched {jwks.fetches} time(s)", flush=True)
            offered: float | None = None  # set by the floor, which runs first in each round
            for index in range(1, args.rounds + 1):
                for server in servers:
                    if time.time() + 3 * args.duration + 30 > expires:
                        print("!! tokens near expiry: stopping rounds early", flush=True)
                        return results
                    cpu, rcpu = server.cpu_seconds(), redis_cpu_seconds(client)
                    throughput = phase(server, pool, args.connections, args.duration)
                    cpu = (server.cpu_seconds() - cpu) / throughput["elapsed"]
                    rcpu = (redis_cpu_seconds(client) - rcpu) / throughput["elapsed"]
                    forget(client, server.name, jtis)
                    if server.name == "floor":
                        # Both servers get the same offered load: a share of what the floor
                        # just managed at 16 connections (open loop; see loadgen.py --rate).
                        offered = args.busy_load * throughput["rps"]
                    busy = phase(server, pool, args.busy, args.duration, offered)
                    forget(client, server.name, jtis)
                    latency = phase(server, pool, 1, args.duration)
                    forget(client, server.name, jtis)
                    results.rounds.append(
                        Round(server.name, index, throughput, latency, cpu, rcpu, busy)
                    )
                    print(row(results.rounds[-1]), flush=True)
        finally:
            for server in servers:
                server.stop()
            print(f"swept {sweep(client)} bench keys from {REDIS_URL}", flush=True)
            client.close()
    return results


HEADER = (
    f"{'round':<7}{'server':<10}{'req/s @16':>10}{'p50 @16':>9}"
    f"{'server':>8}{'redis':>7}{'client':>7}"
    f"{'p99 @64':>9}{'req/s @1':>10}{'p50 @1':>9}{'p99 @1':>9}{'non-200':>9}"
)


def row(r: Round) -> str:
    t, lat = r.throughput, r.latency
    return (
        f"{r.index!s:<7}{r.server:<10}{t['rps']:>10.0f}{t['p50_ms']:>9.2f}{r.server_cpu:>8.0%}"
        f"{r.redis_cpu:>7.0%}{t['client_cpu']:>7.0%} {r.busy['p99_ms']:>8.2f}"
        f"{lat['rps']:>10.0f}{lat['p50_ms']:>9.3f}{lat['p99_ms']:>9.3f}{r.non200:>9}"
    )


def report(results: Results, args: argparse.Namespace) -> int:
    print()
    print(
        f"mint-token, {os.cpu_count()} CPU cores shared by server, Redis and load generator;"
        f" Python {platform.python_version()}; uvicorn 1 worker, uvloop, httptools, no access log"
    )
    print("latency in ms; server/redis/client = CPU (share of one core) in the @16 phase")
    print(HEADER)
    for r in sorted(results.rounds, key=lambda r: (r.server, r.index)):
        print(row(r))
    if not results.of("floor") or not results.of("mintgate"):
        print("no complete round pair: nothing to compare")
        return 1
    m: dict[str, dict[str, float]] = {}
    for name in ("floor", "mintgate"):
        m[name] = {
            "rps": results.median(name, "throughput", "rps"),
            "p50_16": results.median(name, "throughput", "p50_ms"),
            "rps_1": results.median(name, "latency", "rps"),
            "p50": results.median(name, "latency", "p50_ms"),
            "p99": results.median(name, "latency", "p99_ms"),
            "p99_64": results.median(name, "busy", "p99_ms"),
            "cpu": statistics.median(r.server_cpu for r in results.of(name)),
            "rcpu": statistics.median(r.redis_cpu for r in results.of(name)),
            "ccpu": results.median(name, "throughput", "client_cpu"),
        }
        v = m[name]
        print(
            f"{'median':<7}{name:<10}{v['rps']:>10.0f}{v['p50_16']:>9.2f}{v['cpu']:>8.0%}"
            f"{v['rcpu']:>7.0%}{v['ccpu']:>7.0%} {v['p99_64']:>8.2f}"
            f"{v['rps_1']:>10.0f}{v['p50']:>9.3f}{v['p99']:>9.3f}"
        )
    ratio = m["mintgate"]["rps"] / m["floor"]["rps"]
    p50_ratio = m["mintgate"]["p50"] / m["floor"]["p50"]
    p99_ratio = m["mintgate"]["p99"] / m["floor"]["p99"]
    busy_ratio = m["mintgate"]["p99_64"] / m["floor"]["p99_64"]
    spread = {
        name: (
            min(r.throughput["rps"] for r in results.of(name)),
            max(r.throughput["rps"] for r in results.of(name)),
        )
        for name in m
    }
    print()
    print(f"rounds per server: {len(results.of('mintgate'))} x ({args.duration:g}s @16 + "
          f"{args.duration:g}s @{args.busy} open loop at {args.busy_load:.0%} of the floor's req/s"
          f" + {args.duration:g}s @1),"
          " alternating floor/mintgate")  # fmt: skip
    for name, (low, high) in spread.items():
        print(f"  {name} req/s @16 range {low:.0f}..{high:.0f} ({(high - low) / high:.0%} spread)")
    print(f"mintgate/floor throughput @16: {ratio:.2f}")
    print(f"mintgate/floor p50 @1:         {p50_ratio:.2f}  (p99 @1: {p99_ratio:.2f})")
    print(f"mintgate/floor p99 @{args.busy}:        {busy_ratio:.2f}")
    ok_ratio = "PASS" if ratio >= AIM_RATIO else "MISS"
    ok_p50 = "PASS" if m["mintgate"]["p50"] < AIM_P50_MS else "MISS"
    print(f"aim throughput ratio >= {AIM_RATIO}: {ok_ratio} ({ratio:.2f})")
    print(f"aim mintgate p50 @1 < {AIM_P50_MS:g} ms: {ok_p50} ({m['mintgate']['p50']:.3f} ms)")
    ok_busy = "PASS" if m["mintgate"]["p99_64"] < AIM_P99_BUSY_MS else "MISS"
    print(
        f"aim mintgate p99 @{args.busy} < {AIM_P99_BUSY_MS:g} ms: {ok_busy}"
        f" ({m['mintgate']['p99_64']:.2f} ms)"
    )
    total = sum(int(p["requests"]) for r in results.rounds for p in r.phases)
    bad = sum(r.non200 for r in results.rounds)
    errors = sum(sum(p["errors"].values()) for r in results.rounds for p in r.phases)
    print(f"responses: {total} measured, {bad} not 200, {errors} connection errors")
    if bad or errors:
        print("INVALID: some requests were refused or failed; the figures above do not hold")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (>= 3)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per phase")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--busy", type=int, default=64, help="connections of the p99 phase")
    parser.add_argument(
        "--busy-load",
        type=float,
        default=0.5,
        help="the p99 phase's offered load, as a share of the floor's req/s @16 in that round",
    )
    parser.add_argument("--pool", type=int, default=0, help="tokens to sign (default: sized)")
    parser.add_argument(
        "--publishers", type=Path, default=ROOT / "tests" / "data" / "publishers.toml"
    )
    parser.add_argument(
        "--app-log", action="store_true", help="mintgate logs INFO to a file, as `serve` does"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="run both servers under py-spy, write DIR/{floor,mintgate}.folded and a summary",
    )
    args = parser.parse_args(argv)
    if not (
        3 <= args.rounds <= 20
        and 1 <= args.duration <= 30
        and 1 <= args.connections <= 64
        and 1 <= args.busy <= 256
        and 0 < args.busy_load <= 1
    ):
        parser.error("--rounds 3..20, --duration 1..30 s, --connections 1..64, --busy 1..256")
    if args.pool == 0:
        # Enough for the fastest phase seen here (~2k req/s) with room to spare.
        args.pool = int(3500 * args.duration)
    if not 1000 <= args.pool <= 200_000:
        parser.error("--pool 1000..200000")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mintbench-") as tmp:
        try:
            results = run(args, Path(tmp))
        except (BenchError, ServerError) as exc:
            print(f"mint_bench: {exc}", file=sys.stderr)
            return 2
    status = report(results, args)
    if args.profile:
        print("\nprofiled run: py-spy slows both servers; take ratios from an unprofiled run")
        for name in ("floor", "mintgate"):
            print(summarize(args.profile / f"{name}.folded"))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
