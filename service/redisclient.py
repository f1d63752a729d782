"""The service's Redis client: every command answers within a bound, or fails as unavailable.

A Redis that does not answer must become a quick 503, never a hang. redis-py
can bound each socket read and write (`socket_timeout`), but it pays for that
with a task and two timers per command (`asyncio.wait_for` on every write),
about a tenth of a mint's CPU with sixteen mints in flight (bench/inprocess.py
--concurrency 16). One `asyncio.timeout` around the whole command bounds the
same thing for one timer. When it fires, redis-py closes the connection it
was using (it does so for any exception in a read), so no reply can ever be
read by the wrong command.

A burst must queue, not fail: redis-py's pool raises at once when all its
connections are busy, which turned a burst of mints into spurious 503s with
Redis healthy (tests/reliability/test_rel_redis_burst.py). A semaphore admits
at most `MAX_CONNECTIONS` commands, so the pool never holds more connections.
redis-py's own `BlockingConnectionPool` does the same job with a condition
variable, a lock, a timeout context and telemetry per command: about 5% of a
mint's CPU more at sixteen in flight (bench/inprocess.py --concurrency 16).

The bound covers the wait for a slot too: under a burst it is the worker's
CPU, not Redis, that decides when connections come back (1,000 mints queued
on one worker take seconds), so the bound is seconds, not the milliseconds
Redis needs (bench/jwks_storm.py). A refused or unreachable Redis still fails
at once: connecting has its own short timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.maint_notifications import MaintNotificationsConfig

MAX_CONNECTIONS = 64
COMMAND_TIMEOUT = 5.0  # seconds for one command, waiting for a connection included
CONNECT_TIMEOUT = 1.0


class BoundedRedis(aioredis.Redis):
    """`redis.asyncio.Redis` whose commands raise TimeoutError after `command_timeout`,

    and of which at most `MAX_CONNECTIONS` run at once (the others wait their turn
    inside the same bound). TimeoutError is an OSError, which every store here
    already reads as "unavailable".
    """

    command_timeout: float = COMMAND_TIMEOUT
    # Created lazily: asyncio primitives belong to the loop that first waits on them.
    _slots: asyncio.Semaphore | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        slots = self._slots
        if slots is None:
            slots = self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        async with asyncio.timeout(self.command_timeout), slots:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


class _Pool(aioredis.ConnectionPool):
    """redis-py's pool without its per-command bookkeeping, for `BoundedRedis` only.

    redis-py 8 takes an asyncio lock and records connection-state telemetry (three
    awaits) on every `get_connection` and `release`, which cost a mint about 3% of
    its CPU with sixteen in flight (bench/inprocess.py). Here nothing needs either:
    the lock guards state that a single event loop never mutates concurrently
    (redis-py skips it too unless a cluster is being failed over, which this client
    never follows), we export no redis-py telemetry, and `BoundedRedis` admits at
    most `MAX_CONNECTIONS` commands, so the pool needs no limit of its own.
    Connecting, health checks and reconnecting stay redis-py's
    (`ensure_connection`, `should_reconnect`).
    """

    async def get_connection(
        self, command_name: object = None, *keys: object, **options: object
    ) -> Any:
        try:
            connection = self._available_connections.pop()
        except IndexError:
            connection = self.make_connection()  # type: ignore[no-untyped-call]
        self._in_use_connections.add(connection)
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: AbstractConnection) -> None:
        self._in_use_connections.remove(connection)
        if connection.should_reconnect():  # type: ignore[no-untyped-call]
            await connection.disconnect()
        self._available_connections.append(connection)


def redis_client(url: str, *, command_timeout: float = COMMAND_TIMEOUT) -> aioredis.Redis:
    pool = _Pool.from_url(
        url,
        socket_timeout=None,  # the command's own bound applies (BoundedRedis)
        socket_connect_timeout=CONNECT_TIMEOUT,
        health_check_interval=30,
        maint_notifications_config=MaintNotificationsConfig(enabled=False),  # see _Pool
    )
    client = BoundedRedis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as from_pool: closing the client closes its pool
    client.command_timeout = command_timeout
    return client
