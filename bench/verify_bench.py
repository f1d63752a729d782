"""Registry-side verify of a minted token, offline and by introspection, against a floor.

    .venv/bin/python bench/verify_bench.py [--rounds 3] [--duration 3]

Starts the loopback GitHub JWKS server and mintgate (as `mint_bench.py` does),
mints a pool of real tokens through `POST /_/oidc/mint-token`, then starts two
more servers (`verify_apps.py`, each one uvicorn worker like every server here):

- floor:      bare Starlette, `jwt.decode` of the ES256 token with a cached key object;
- gateway:    what the upload gateway runs per upload: `verify_upload_token` over
              `registry_verifier` (`jwks_cache`, prefix, checksum, claims, project scope);
- introspect: mintgate's own `POST /oauth/introspect` (RFC 7662, HTTP Basic client),
              which also asks the revocation store (one Redis GET).

Rounds alternate floor, gateway, introspect; each measures requests/s at 16
connections and latency at 1 connection with `loadgen.py` in its own process,
reusing the token pool (verifying does not spend a token). Prints every round,
the medians and the ratios to the floor. Exit 0 when every answer was a
success, 1 when any was not, 2 when setup failed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import secrets
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import redis
from issuer import JWKSServer, make_tokens, write_issuers, write_keys
from mint_bench import REDIS_URL, ROOT, BenchError, loadgen, sweep
from servers import Server, ServerError, free_port

POOL = 1000
PROJECT = "sampleproject"
NAMES = ("floor", "gateway", "introspect")


def oauth_client(work: Path) -> tuple[Path, str]:
    """An OAuth clients file with one introspecting client, and its Authorization header."""
    secret = secrets.token_urlsafe(32)
    path = work / "oauth_clients.toml"
    path.write_text(
        "[[client]]\n"
        'id = "bench-registry"\n'
        f'secret_sha256 = "{hashlib.sha256(secret.encode()).hexdigest()}"\n'
        'scopes = ["introspect"]\n'
    )
    basic = base64.b64encode(f"bench-registry:{secret}".encode()).decode()
    return path, f"Authorization: Basic {basic}"


def mint_pool(port: int, oidc_tokens: Sequence[str]) -> list[str]:
    """Real minted tokens: each OIDC token exchanged once at mintgate."""
    minted = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for token in oidc_tokens:
            response = client.post("/_/oidc/mint-token", json={"token": token})
            if response.status_code != 200:
                raise BenchError(f"mint refused: {response.text[:300]}")
            minted.append(response.json()["token"])
    return minted


def measure(
    name: str, port: int, pool: Path, connections: int, duration: float, header: str
) -> dict[str, Any]:
    if name == "introspect":
        extra = ["--path", "/oauth/introspect", "--form", "--header", header,
                 "--expect", '"active":true', "--cycle"]  # fmt: skip
    else:
        extra = ["--path", "/verify", "--cycle"]
    result = loadgen(port, pool, connections, duration, extra)
    if result["non200"] or result["errors"]:
        print(f"  !! {name}: {result['statuses']} errors {result['errors']}"
              f" first: {result['first_refusal'][:200]}", flush=True)  # fmt: skip
    return result


def run(args: argparse.Namespace, work: Path) -> dict[str, list[tuple[dict[str, Any], ...]]]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {REDIS_URL} does not answer: {exc}") from None
    sweep(client)
    files = write_keys(work)
    clients_file, header = oauth_client(work)
    rounds: dict[str, list[tuple[dict[str, Any], ...]]] = {name: [] for name in NAMES}
    with JWKSServer(files.jwks.read_bytes()) as jwks:
        write_issuers(files, jwks.url)
        _, oidc_tokens, _ = make_tokens(files, POOL, lifetime=3600)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "BENCH_JWKS_FILE": str(files.jwks),
            "BENCH_SIGNING_KEY": str(files.signing_key),
            "BENCH_REDIS_URL": REDIS_URL,
            "BENCH_ISSUERS_FILE": str(files.issuers),
            "BENCH_PUBLISHERS_FILE": str(ROOT / "tests" / "data" / "publishers.toml"),
            "BENCH_URL": url,
            "BENCH_OAUTH_CLIENTS_FILE": str(clients_file),
            "BENCH_MINTGATE_URL": url,
            "BENCH_PROJECT": PROJECT,
        }
        mintgate = Server("introspect", "mintgate_app:create_app", env, work / "mintgate.log")
        mintgate.port = port
        verifiers = [
            Server(name, f"verify_apps:create_{name}", env, work / f"{name}.log")
            for name in ("floor", "gateway")
        ]
        servers = {s.name: s for s in (*verifiers, mintgate)}
        try:
            mintgate.start()
            mintgate.wait_ready()
            pool = work / "minted.txt"
            pool.write_text("\n".join(mint_pool(port, oidc_tokens)), encoding="ascii")
            for server in verifiers:
                server.start()
            for name in NAMES:
                servers[name].wait_ready()
                warm = measure(name, servers[name].port, pool, 4, 1.0, header)
                if warm["non200"] or warm["errors"]:
                    raise BenchError(f"{name} refuses the minted tokens; nothing to measure")
            print(f"minted {POOL} tokens; warmed up", flush=True)
            for index in range(1, args.rounds + 1):
                for name in NAMES:
                    port_of = servers[name].port
                    busy = measure(name, port_of, pool, 16, args.duration, header)
                    one = measure(name, port_of, pool, 1, args.duration, header)
                    rounds[name].append((busy, one))
                    print(row(str(index), name, busy, one), flush=True)
        finally:
            for server in servers.values():
                server.stop()
            sweep(client)
            client.close()
    return rounds


HEADER = (
    f"{'round':<7}{'server':<12}{'req/s @16':>10}{'p50 @16':>9}{'p99 @16':>9}"
    f"{'req/s @1':>10}{'p50 @1':>9}{'p99 @1':>9}{'non-200':>9}"
)


def row(label: str, name: str, busy: dict[str, Any], one: dict[str, Any]) -> str:
    bad = int(busy["non200"]) + int(one["non200"])
    return (
        f"{label:<7}{name:<12}{busy['rps']:>10.0f}{busy['p50_ms']:>9.3f}{busy['p99_ms']:>9.3f}"
        f"{one['rps']:>10.0f}{one['p50_ms']:>9.3f}{one['p99_ms']:>9.3f}{bad:>9}"
    )


def report(rounds: dict[str, list[tuple[dict[str, Any], ...]]], args: argparse.Namespace) -> int:
    print(f"\nregistry-side verify, {os.cpu_count()} CPU cores shared by server, Redis and load"
          " generator; each server 1 uvicorn worker; latency in ms")  # fmt: skip
    print(HEADER)
    medians: dict[str, dict[str, Any]] = {}
    for name in NAMES:
        done = rounds[name]
        if not done:
            print("no complete round: nothing to compare")
            return 1
        busy = {k: statistics.median(r[0][k] for r in done) for k in ("rps", "p50_ms", "p99_ms")}
        one = {k: statistics.median(r[1][k] for r in done) for k in ("rps", "p50_ms", "p99_ms")}
        medians[name] = {"busy": busy, "one": one}
        print(row("median", name, {**busy, "non200": 0}, {**one, "non200": 0}))
    floor = medians["floor"]
    print(f"\nrounds: {len(rounds['floor'])} x ({args.duration:g}s @16 + {args.duration:g}s @1),"
          " alternating floor/gateway/introspect")  # fmt: skip
    for name in ("gateway", "introspect"):
        m = medians[name]
        print(
            f"{name}/floor throughput @16: {m['busy']['rps'] / floor['busy']['rps']:.2f}"
            f"   p50 @1: {m['one']['p50_ms'] / floor['one']['p50_ms']:.2f}"
            f" ({m['one']['p50_ms']:.3f} ms vs {floor['one']['p50_ms']:.3f} ms)"
        )
    bad = sum(int(r[i]["non200"]) + sum(r[i]["errors"].values())
              for done in rounds.values() for r in done for i in (0, 1))  # fmt: skip
    if bad:
        print(f"INVALID: {bad} answers were not a successful verification")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (>= 1)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per phase")
    args = parser.parse_args(argv)
    if not (1 <= args.rounds <= 20 and 1 <= args.duration <= 30):
        parser.error("--rounds 1..20, --duration 1..30 s")
    with tempfile.TemporaryDirectory(prefix="verifybench-") as tmp:
        try:
            rounds = run(args, Path(tmp))
        except (BenchError, ServerError) as exc:
            print(f"verify_bench: {exc}", file=sys.stderr)
            return 2
    return report(rounds, args)


if __name__ == "__main__":
    raise SystemExit(main())
