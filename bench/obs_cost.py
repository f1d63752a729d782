"""Microseconds per mint that observability and rate limits add, in process, stage by stage.

    .venv/bin/python bench/obs_cost.py [--n 20000]
    PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) .venv/bin/python bench/obs_cost.py   # multiprocess mode

Like stages.py: each figure is the median of 5 runs of `--n` calls, without a
server. "middleware" is one request through ObservabilityMiddleware (request
id, in-flight gauge, latency histogram, response counter) around an app that
answers at once, minus the same request without it. The Redis rows need the
Redis at MINTGATE_TEST_REDIS_URL (one EVALSHA round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from jwks_cache import CacheStats
from service.observability.clientip import ClientAddress
from service.observability.logs import JsonFormatter, RequestIdFilter, TextFormatter
from service.observability.metrics import Metrics
from service.observability.middleware import ObservabilityMiddleware, RouteTemplates
from service.ratelimit import Limit, MemoryWindows, Rate, RateLimiter, RedisWindows

MINT = "/_/oidc/mint-token"


def per_call_us(fn: Callable[[], object], n: int) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(runs)


def run_coroutine(make: Callable[[], Any]) -> Callable[[], object]:
    def call() -> object:
        coroutine = make()
        try:
            coroutine.send(None)
        except StopIteration as done:
            return done.value
        raise RuntimeError("stage suspended")

    return call


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def sink(message: Any) -> None:
    pass


async def nothing() -> Any:
    return {"type": "http.request", "body": b""}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    n = max(1000, min(parser.parse_args().n, 200_000))
    metrics = Metrics()
    metrics.watch_jwks(CacheStats())
    middleware = ObservabilityMiddleware(
        answer,
        metrics=metrics,
        routes=RouteTemplates([]),
        clients=ClientAddress(),
    )
    scope = {
        "type": "http",
        "method": "POST",
        "path": MINT,
        "headers": [(b"content-type", b"application/json")],
        "client": ("203.0.113.9", 5000),
    }
    limiter = RateLimiter(MemoryWindows(), clock=time.time)
    limit = Limit("mint-ip", Rate(10**9, 60), "address")
    record = logging.LogRecord(
        "service.exchange",
        logging.INFO,
        __file__,
        1,
        "minted %s for %s",
        ("U7BEPZ1m9o9lnPgEfNEpJ2kI", "sampleproject"),
        None,
    )
    record.__dict__.update(event="minted", provider="github", jti="U7BEPZ1m9o9lnPgEfNEpJ2kI")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    json_format, text_format = JsonFormatter(), TextFormatter()

    bare = per_call_us(run_coroutine(lambda: answer(scope, nothing, sink)), n)
    wrapped = per_call_us(run_coroutine(lambda: middleware(dict(scope), nothing, sink)), n)
    rows: list[tuple[str, float]] = [
        (
            "Metrics.minted (counter, cached child)",
            per_call_us(lambda: metrics.minted("github"), n),
        ),
        ("Metrics.refused", per_call_us(lambda: metrics.refused("github", "invalid-token"), n)),
        ("ObservabilityMiddleware (one request)", wrapped - bare),
        (
            "RateLimiter.check, in process",
            per_call_us(run_coroutine(lambda: limiter.check(limit, "203.0.113.9")), n),
        ),
        ("JsonFormatter.format (mint line)", per_call_us(lambda: json_format.format(record), n)),
        ("TextFormatter.format (mint line)", per_call_us(lambda: text_format.format(record), n)),
    ]
    redis_url = os.environ.get("MINTGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    rows.append(
        ("RateLimiter.check, Redis round trip", asyncio.run(redis_check(redis_url, limit, n // 10)))
    )
    mode = "multiprocess" if metrics.multiprocess else "single process"
    print(f"prometheus-client mode: {mode}")
    print(f"{'stage':<44}{'us/call':>9}")
    for name, us in rows:
        print(f"{name:<44}{us:>9.2f}")
    return 0


async def redis_check(url: str, limit: Limit, n: int) -> float:
    client = aioredis.Redis.from_url(url)
    limiter = RateLimiter(RedisWindows(client), clock=time.time)
    try:
        await limiter.check(limit, "warm-up")
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(n):
                await limiter.check(limit, "203.0.113.9")
            runs.append((time.perf_counter() - started) / n * 1e6)
        return statistics.median(runs)
    finally:
        await client.aclose()


if __name__ == "__main__":
    raise SystemExit(main())
