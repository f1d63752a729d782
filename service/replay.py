"""Single use of an OIDC token's `jti`.

`consume` is the last gate before signing: it records the jti atomically and
answers whether this was the first use. The record lives until the token's
`exp` plus leeway, since verification still accepts the token inside the
leeway after its expiry. If the store cannot answer, callers mint nothing.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
import redis.exceptions


class ReplayUnavailable(Exception):
    """The store cannot tell whether the jti was seen: fail closed."""


class ReplayStore(Protocol):
    async def consume(self, issuer: str, jti: str, *, until: int) -> bool:
        """Record (issuer, jti) until the unix time `until`; True on first use only."""
        ...

    async def release(self, issuer: str, jti: str) -> None:
        """Forget a record whose mint was never answered, so the job may retry the token.

        Raises ReplayUnavailable when it cannot (the jti then stays used: fail closed).
        """
        ...

    async def ping(self) -> bool: ...


def replay_key(issuer: str, jti: str) -> str:
    # jti is unique per issuer only; hashing bounds the key size whatever arrives.
    digest = hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()
    return f"mintgate:jti:{digest}"


class MemoryReplayStore:
    """In-process store for one replica: bounded, and full means refuse, never evict.

    Evicting a live jti to make room would let that token be replayed, so when
    every slot holds an unexpired record the store reports itself unavailable.
    """

    def __init__(self, *, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._until: dict[str, int] = {}
        self._expiries: list[tuple[int, str]] = []

    async def consume(self, issuer: str, jti: str, *, until: int) -> bool:
        now = self._clock()
        self._purge(now)
        key = replay_key(issuer, jti)
        if key in self._until:
            return False
        if len(self._until) >= self._max:
            raise ReplayUnavailable("replay store is full")
        self._until[key] = until
        heapq.heappush(self._expiries, (until, key))
        return True

    async def release(self, issuer: str, jti: str) -> None:
        self._until.pop(replay_key(issuer, jti), None)  # its heap entry no longer matches

    async def ping(self) -> bool:
        return True

    def _purge(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] < now:
            until, key = heapq.heappop(self._expiries)
            if self._until.get(key) == until:
                del self._until[key]


class RedisReplayStore:
    """Shared by every replica: `SET NX EXAT` is the atomic first-use test."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def consume(self, issuer: str, jti: str, *, until: int) -> bool:
        try:
            # The command itself, not `set()`: redis-py 8 inspects the arguments of every
            # `set()` call for experimental ones, a few percent of a mint's CPU.
            created = await self._redis.execute_command(  # type: ignore[no-untyped-call]
                "SET", replay_key(issuer, jti), b"1", "NX", "EXAT", until
            )
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ReplayUnavailable(f"redis: {type(exc).__name__}") from None
        return bool(created)

    async def release(self, issuer: str, jti: str) -> None:
        try:
            await self._redis.execute_command("DEL", replay_key(issuer, jti))  # type: ignore[no-untyped-call]
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ReplayUnavailable(f"redis: {type(exc).__name__}") from None

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (redis.exceptions.RedisError, OSError):
            return False
