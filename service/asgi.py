"""The ASGI app factory that uvicorn's worker processes import (`service.asgi:app_from_env`).

Each worker is a fresh interpreter: it reads the same MINTGATE_* variables and builds its own app.
"""

from __future__ import annotations

import gc

from starlette.applications import Starlette

from service.app import create_app
from service.settings import Settings


def app_from_env() -> Starlette:
    app = create_app(Settings.from_env())
    settle_heap()
    return app


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
