"""CPU microseconds per mint through each whole ASGI app, in one process, no HTTP server.

    .venv/bin/python bench/inprocess.py [--n 3000] [--rounds 5] [--concurrency 1] [--profile FILE]

Between `stages.py` (one function at a time) and `mint_bench.py` (two real
servers under load): both apps are called as ASGI applications, so routing,
middleware, metrics, the real Redis round trip and the response all count, but
the HTTP parser and the load generator do not. The figure is process CPU time
per request (`time.process_time`), not wall time, so a busy machine disturbs it
far less than a throughput run. Rounds alternate floor and mintgate; the ratio
compares medians. `--profile` writes a cProfile of the mintgate rounds (of the
floor's with `--only floor`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import redis
import uvloop
from issuer import JWKSServer, make_tokens, write_issuers, write_keys

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/14"
Message = MutableMapping[str, Any]
App = Callable[
    [Message, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


async def call(app: App, body: bytes) -> int:
    scope: Message = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/_/oidc/mint-token",
        "raw_path": b"/_/oidc/mint-token",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status = 0

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


_LIFESPANS: set[asyncio.Task[None]] = set()


async def lifespan_start(app: App) -> None:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    started = asyncio.Event()
    await queue.put({"type": "lifespan.startup"})

    async def send(message: Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"] == "lifespan.startup.failed":
            raise RuntimeError(message.get("message"))

    task = asyncio.get_running_loop().create_task(app({"type": "lifespan"}, queue.get, send))
    _LIFESPANS.add(task)  # held: a collected lifespan task would close the app's clients
    await started.wait()


async def measure(app: App, bodies: list[bytes], concurrency: int = 1) -> float:
    """CPU per mint with `concurrency` requests in flight at once (as connections would be).

    The loop is bracketed by `os.getppid()` and `os.getpgrp()`, two calls nothing
    else here makes, so callgrind can count exactly it (see `--only`).
    """
    before = resource.getrusage(resource.RUSAGE_SELF)
    os.getppid()
    start = time.process_time()
    for first in range(0, len(bodies), concurrency):
        batch = bodies[first : first + concurrency]
        for status in await asyncio.gather(*(call(app, body) for body in batch)):
            if status != 200:
                raise SystemExit(
                    f"a mint answered {status}: the bench measures successful mints only"
                )
    os.getpgrp()
    after = resource.getrusage(resource.RUSAGE_SELF)
    share = (after.ru_stime - before.ru_stime) / max(time.process_time() - start, 1e-9)
    switches = (after.ru_nvcsw - before.ru_nvcsw) / len(bodies)
    print(f"  kernel {share:.0%} of CPU, {switches:.2f} voluntary switches per mint", flush=True)
    return (time.process_time() - start) / len(bodies) * 1e6


async def run(args: argparse.Namespace, work: Path) -> int:
    files = write_keys(work)
    client = redis.Redis.from_url(REDIS_URL)
    with JWKSServer(files.jwks.read_bytes()) as jwks:
        write_issuers(files, jwks.url)
        _, tokens, _ = make_tokens(
            files,
            args.n * args.rounds * len(args.only or ("floor", "mintgate"))
            + 20 * len(args.only or "ab"),
            lifetime=900,
        )
        os.environ.update(
            BENCH_JWKS_FILE=str(files.jwks),
            BENCH_SIGNING_KEY=str(files.signing_key),
            BENCH_REDIS_URL=REDIS_URL,
            BENCH_ISSUERS_FILE=str(files.issuers),
            BENCH_PUBLISHERS_FILE=str(ROOT / "tests" / "data" / "publishers.toml"),
        )
        sys.path.insert(0, str(Path(__file__).parent))
        apps: dict[str, App] = {
            name: importlib.import_module(f"{name}_app").create_app()
            for name in args.only or ("floor", "mintgate")
        }
        for app in apps.values():
            await lifespan_start(app)
        bodies = [json.dumps({"token": t}).encode() for t in tokens]
        for app in apps.values():  # warm up: JWKS fetched, imports done
            await measure(app, [bodies.pop() for _ in range(10)])
        figures: dict[str, list[float]] = {name: [] for name in apps}
        profiler = cProfile.Profile() if args.profile else None
        profiled = "mintgate" if "mintgate" in apps else "floor"
        for index in range(args.rounds):
            for name, app in apps.items():
                batch = [bodies.pop() for _ in range(args.n)]
                if profiler is not None and name == profiled:
                    profiler.enable()
                figures[name].append(await measure(app, batch, args.concurrency))
                if profiler is not None and name == profiled:
                    profiler.disable()
                print(f"round {index + 1}  {name:<9}{figures[name][-1]:8.1f} us/mint", flush=True)
    for prefix in ("benchfloor:jti:*", "mintgate:*"):
        for key in client.scan_iter(prefix, count=1000):
            client.delete(key)
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print("median    " + ", ".join(f"{name} {value:.1f} us" for name, value in medians.items()))
    if len(medians) == 2:
        print(f"floor/mintgate CPU per mint: {medians['floor'] / medians['mintgate']:.2f}")
    if profiler is not None:
        profiler.dump_stats(args.profile)
        print(f"profile of the {profiled} rounds: {args.profile}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="mints per round and app")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument(
        "--only",
        action="append",
        choices=["floor", "mintgate"],
        help="build and run this app alone (repeatable), e.g. to count the instructions of"
        " the measured rounds alone, whatever the machine is doing meanwhile: `valgrind"
        " --tool=callgrind --zero-before=os_getppid --dump-before=os_getpgrp`; each dump"
        " holds one round (the warm-up's first), divide its total by --n",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        return uvloop.run(run(args, Path(work)))  # as uvicorn runs the apps


if __name__ == "__main__":
    raise SystemExit(main())
