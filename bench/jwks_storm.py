"""The JWKS storm: 1,000 concurrent mint-token requests signed with a kid mintgate never saw.

    .venv/bin/python bench/jwks_storm.py [--rounds 5] [--requests 1000]

The issuer rotates: a new RSA key is published under a new kid, and 1,000
connections each send one mint-token request whose OIDC token that key
signed, all at once (`loadgen.py --burst`, its own process). mintgate must
fetch the issuer's JWKS exactly once (counted at the loopback JWKS server:
what the issuer saw, not what the cache says) and mint all 1,000. The floor is
the same burst with tokens signed by the key mintgate already holds, measured
in the same run, alternating with the storm: the ratio storm/floor is the
price of the rotation.

mintgate runs as in `mint_bench.py` (one uvicorn worker, uvloop, httptools,
Redis db 14) with MINTGATE_JWKS_COOLDOWN=1 s so that rounds a few seconds
apart may each refresh (the default 60 s would refuse a second new kid within
a minute, by design). Exit 0 when every storm cost one fetch and every answer
was a mint; 1 otherwise; 2 when setup failed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis
from issuer import JWKSServer, add_issuer_key, make_tokens, write_issuers, write_keys
from mint_bench import REDIS_URL, ROOT, BenchError, loadgen, sweep
from servers import Server, ServerError

COOLDOWN = 1.0
LIFETIME = 900


def burst(server: Server, tokens: list[str], work: Path, name: str) -> dict[str, Any]:
    pool = work / f"{name}.txt"
    pool.write_text("\n".join(tokens), encoding="ascii")
    result = loadgen(server.port, pool, len(tokens), 30, ["--burst"])
    if result["non200"] or result["errors"]:
        print(f"  !! {name}: {result['statuses']} errors {result['errors']}"
              f" first: {result['first_refusal'][:200]}", flush=True)  # fmt: skip
    return result


def run(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {REDIS_URL} does not answer: {exc}") from None
    sweep(client)
    files = write_keys(work)
    rounds: list[dict[str, Any]] = []
    with JWKSServer(files.jwks.read_bytes()) as jwks:
        write_issuers(files, jwks.url)
        env = {
            **os.environ,
            "BENCH_JWKS_FILE": str(files.jwks),
            "BENCH_SIGNING_KEY": str(files.signing_key),
            "BENCH_REDIS_URL": REDIS_URL,
            "BENCH_ISSUERS_FILE": str(files.issuers),
            "BENCH_PUBLISHERS_FILE": str(ROOT / "tests" / "data" / "publishers.toml"),
            "BENCH_JWKS_COOLDOWN": str(COOLDOWN),
        }
        server = Server("mintgate", "mintgate_app:create_app", env, work / "mintgate.log")
        try:
            server.start()
            server.wait_ready()
            _, warm, _ = make_tokens(files, 200, lifetime=LIFETIME)
            warmed = burst(server, warm, work, "warm")
            if warmed["non200"] or warmed["errors"]:
                raise BenchError(f"mintgate refuses the bench tokens: {warmed['first_refusal']}")
            print(f"warmed up; JWKS fetched {jwks.fetches} time(s)", flush=True)
            last_fetch = time.monotonic()
            for index in range(1, args.rounds + 1):
                _, known, _ = make_tokens(files, args.requests, lifetime=LIFETIME)
                kid = f"rotated-{index}"
                key_file = add_issuer_key(files, kid)
                _, rotated, _ = make_tokens(
                    files, args.requests, lifetime=LIFETIME, kid=kid, key_file=key_file
                )
                jwks.document = files.jwks.read_bytes()
                before = jwks.fetches
                floor = burst(server, known, work, "known")
                floor_fetches = jwks.fetches - before
                # The cooldown counts from the last refresh; rounds are seconds apart anyway.
                time.sleep(max(0.0, last_fetch + COOLDOWN + 0.1 - time.monotonic()))
                before = jwks.fetches
                storm = burst(server, rotated, work, "storm")
                last_fetch = time.monotonic()
                result = {
                    "index": index,
                    "floor": floor,
                    "storm": storm,
                    "floor_fetches": floor_fetches,
                    "fetches": jwks.fetches - before,
                }
                rounds.append(result)
                print(row(result), flush=True)
        finally:
            server.stop()
            sweep(client)
            client.close()
    return rounds


HEADER = (
    f"{'round':<7}{'floor s':>9}{'storm s':>9}{'ratio':>7}{'fetches':>9}"
    f"{'p50 floor':>11}{'p50 storm':>11}{'p99 storm':>11}{'non-200':>9}"
)


def row(r: dict[str, Any]) -> str:
    floor, storm = r["floor"], r["storm"]
    bad = int(floor["non200"]) + int(storm["non200"])
    return (
        f"{r['index']!s:<7}{floor['elapsed']:>9.3f}{storm['elapsed']:>9.3f}"
        f"{storm['elapsed'] / floor['elapsed']:>7.2f}{r['fetches']:>9}"
        f"{floor['p50_ms']:>11.1f}{storm['p50_ms']:>11.1f}{storm['p99_ms']:>11.1f}{bad:>9}"
    )


def report(rounds: list[dict[str, Any]], args: argparse.Namespace) -> int:
    print(
        f"\nJWKS storm: {args.requests} concurrent mint-token requests per burst,"
        f" {os.cpu_count()} CPU cores, Python {platform.python_version()},"
        " mintgate 1 uvicorn worker; times in s, latencies in ms"
    )
    print(HEADER)
    for r in rounds:
        print(row(r))
    if not rounds:
        print("no complete round")
        return 1
    floor = statistics.median(r["floor"]["elapsed"] for r in rounds)
    storm = statistics.median(r["storm"]["elapsed"] for r in rounds)
    print(f"median time for all {args.requests}: floor (known kid) {floor:.3f} s,"
          f" storm (new kid) {storm:.3f} s")  # fmt: skip
    print(f"storm/floor time: {storm / floor:.2f}")
    fetches = [r["fetches"] for r in rounds]
    one = all(f == 1 for f in fetches) and not any(r["floor_fetches"] for r in rounds)
    print(f"upstream JWKS fetches per storm: {fetches} -> {'PASS' if one else 'FAIL'}"
          " (aim: exactly 1; 0 during floor bursts)")  # fmt: skip
    bad = sum(int(r[k]["non200"]) + sum(r[k]["errors"].values())
              for r in rounds for k in ("floor", "storm"))  # fmt: skip
    if bad:
        print(f"INVALID: {bad} requests were refused or failed")
    return 0 if one and not bad else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000, help="concurrent requests per burst")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 20 and 10 <= args.requests <= 2000):
        parser.error("--rounds 1..20, --requests 10..2000")
    with tempfile.TemporaryDirectory(prefix="jwksstorm-") as tmp:
        try:
            rounds = run(args, Path(tmp))
        except (BenchError, ServerError) as exc:
            print(f"jwks_storm: {exc}", file=sys.stderr)
            return 2
    return report(rounds, args)


if __name__ == "__main__":
    raise SystemExit(main())
