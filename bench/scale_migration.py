"""An online migration under load: 0007's indexes built on a big trusted_publishers table.

From 0006 (the indexes dropped), a mint load runs through one server while,
a few seconds in, the index on trusted_publishers.created_by_user_id is built:
- "plain": CREATE INDEX in a transaction, what a naive migration would do. Its
  SHARE lock blocks every INSERT/UPDATE on the table, and each mint updates its
  publisher's last use, so mints wait for the whole build;
- "online": `migrate.upgrade` to 0007, i.e. `mintgate db upgrade`, which
  builds it with CREATE INDEX CONCURRENTLY.
The figure that matters is the slowest mint (max) of each run: the aim is
under a second for "online". "plain" is there to show the load can see a block.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
from scale_setup import Keys, forget, loadgen_async, sign
from servers import Server
from sqlalchemy import text

from service.store import migrate
from service.store.engine import create_engine

INDEX = "ix_trusted_publishers_created_by_user_id"


async def _plain(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(f"CREATE INDEX {INDEX} ON trusted_publishers (created_by_user_id)")
            )
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP INDEX {INDEX}"))
    finally:
        await engine.dispose()


async def _online(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def _under_load(
    server: Server,
    tokens: list[str],
    build: Callable[[], Awaitable[None]],
    *,
    duration: float,
    start_after: float,
) -> dict[str, Any]:
    load = asyncio.create_task(loadgen_async(server.port, tokens, 4, duration))
    await asyncio.sleep(start_after)
    started = time.perf_counter()
    await build()
    built = time.perf_counter() - started
    result = await load
    return {
        "build_seconds": built,
        "load_seconds": result["elapsed"],
        "mints": result["requests"],
        "non200": result["non200"] + sum(result["errors"].values()),
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "max_ms": result["max_ms"],
        "outlasted_load": start_after + built > result["elapsed"],
    }


async def _demo(
    server: Server, url: str, keys: Keys, client: redis.Redis, duration: float
) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await migrate.downgrade(engine, "0006")
    finally:
        await engine.dispose()
    jtis, tokens = sign(keys, int(duration * 1500), 3600)
    out = {}
    for name, build in (("plain", _plain), ("online", _online)):
        out[name] = await _under_load(
            server, tokens, functools.partial(build, url), duration=duration, start_after=3.0
        )
        forget(client, jtis)
        print(
            f"  migration {name}: index built in {out[name]['build_seconds']:.1f} s;"
            f" slowest mint {out[name]['max_ms']:.0f} ms, p99 {out[name]['p99_ms']:.1f} ms",
            flush=True,
        )
    return out


def online_migration(
    server: Server, url: str, keys: Keys, client: redis.Redis, duration: float = 30.0
) -> dict[str, Any]:
    return asyncio.run(_demo(server, url, keys, client, duration))
