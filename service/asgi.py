"""The ASGI app factory that uvicorn's worker processes import (`service.asgi:app_from_env`).

Each worker is a fresh interpreter: it reads the same MINTGATE_* variables and builds its own app.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette

from service.app import create_app
from service.settings import Settings
from service.trust import TrustUnavailable

# How long a worker waits for its first look at the database before it settles the heap
# without it (a database that is down at start-up is opened later, unsettled).
WARM_WITHIN = 30.0


def app_from_env() -> Starlette:
    return settled(create_app(Settings.from_env()))


def settled(app: Starlette) -> Starlette:
    """Settle the heap now, and again once the app has warmed up (`mintgate serve`'s
    workers and the benches that stand for them; never tests, whose heap would leak).

    Warm means the trust index's first poll has succeeded. The database is opened
    lazily, so its engine, dialect, driver and Alembic's scripts (the revision
    check loads every migration) are built then, after the first settling, and
    every full collection would walk them again: on the database source that
    tripled the garbage collector's share of a mint (bench/trust_cpu.py's apps, one
    per process: 37 against 14 us a mint). `app.state.heap_settled` is set once the
    second settling is done.
    """
    settle_heap()
    app.state.heap_settled = asyncio.Event()
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner(app):  # create_app's lifespan keeps no per-lifespan state
            warming = asyncio.create_task(_settle_when_warm(app))
            try:
                yield
            finally:
                warming.cancel()
                await asyncio.gather(warming, return_exceptions=True)

    app.router.lifespan_context = lifespan
    return app


async def _settle_when_warm(app: Starlette) -> None:
    index = app.state.trust_index  # None on the TOML source: nothing is opened lazily
    if index is not None:
        with contextlib.suppress(TrustUnavailable, TimeoutError):
            async with asyncio.timeout(WARM_WITHIN):
                await index.caught_up()
    settle_heap()
    app.state.heap_settled.set()


def settle_heap() -> None:
    """Leave what start-up built out of every later garbage collection.

    The modules, configuration and clients built so far live as long as the
    worker, yet each full collection would walk all of them again: with the
    account layer's libraries loaded that is most of the heap, and under load
    those pauses made mint throughput swing by a third from one run to the next
    (bench/mint_bench.py: 1,337 to 2,130 req/s at 16 connections before, 1,550
    to 2,320 after). Done once per worker process, never in tests.
    """
    gc.collect()
    gc.freeze()
