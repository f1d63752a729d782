"""The service's Redis client: every command answers within a bound, or fails as unavailable.

A Redis that does not answer must become a quick 503, never a hang. redis-py
can bound each socket read and write (`socket_timeout`), but it pays for that
with a task and two timers per command (`asyncio.wait_for` on every write),
about a tenth of a mint's CPU with sixteen mints in flight (bench/inprocess.py
--concurrency 16). One `asyncio.timeout` around the whole command bounds the
same thing for one timer. When it fires, redis-py closes the connection it
was using (it does so for any exception in a read), so no reply can ever be
read by the wrong command.

The bound covers the wait for a pooled connection too: under a burst it is
the worker's CPU, not Redis, that decides when connections come back (1,000
mints queued on one worker take seconds), so the bound is seconds, not the
milliseconds Redis needs (bench/jwks_storm.py). A refused or unreachable Redis
still fails at once: connecting has its own short timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis

MAX_CONNECTIONS = 64
COMMAND_TIMEOUT = 5.0  # seconds for one command, waiting for a connection included
CONNECT_TIMEOUT = 1.0


class BoundedRedis(aioredis.Redis):
    """`redis.asyncio.Redis` whose commands raise TimeoutError after `command_timeout`.

    TimeoutError is an OSError, which every store here already reads as "unavailable".
    """

    command_timeout: float = COMMAND_TIMEOUT

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        async with asyncio.timeout(self.command_timeout):
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def redis_client(url: str, *, command_timeout: float = COMMAND_TIMEOUT) -> aioredis.Redis:
    # A blocking pool: redis-py's default pool raises at once when its connections are all
    # in use, which turned a burst of mints into spurious 503s with Redis healthy.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=None,  # the command's own bound applies (BoundedRedis)
        socket_timeout=None,  # likewise; redis-py's default would add a task and timers per command
        socket_connect_timeout=CONNECT_TIMEOUT,
        health_check_interval=30,
    )
    client = BoundedRedis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as from_pool: closing the client closes its pool
    client.command_timeout = command_timeout
    return client
