"""Revoked token ids, kept until the token would have expired anyway.

Consulted by the verifier and the upload gateway. A store that cannot answer
makes them refuse (fail closed), never accept.
"""

from __future__ import annotations

import hashlib
import heapq
import time
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis
import redis.exceptions


class RevocationUnavailable(Exception):
    """The store cannot tell whether a token id is revoked."""


class RevocationStore(Protocol):
    async def revoke(self, token_id: str, *, until: int) -> None:
        """Remember `token_id` as revoked until the unix time `until` (its expiry)."""
        ...

    async def is_revoked(self, token_id: str) -> bool:
        """Raises RevocationUnavailable when the answer cannot be known."""
        ...


def revocation_key(token_id: str) -> str:
    # Hashed so whatever arrives as a jti, the key has a fixed size and shape.
    return "mintgate:revoked:" + hashlib.sha256(token_id.encode()).hexdigest()


class MemoryRevocationStore:
    """In-process store for one replica: bounded, and full means refuse, never evict.

    Evicting a live revocation would make a revoked token good again, so when
    every slot holds an unexpired record, `revoke` reports the store unavailable.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.time, max_entries: int = 100_000
    ) -> None:
        self._clock = clock
        self._max = max_entries
        self._until: dict[str, int] = {}
        self._expiries: list[tuple[int, str]] = []

    async def revoke(self, token_id: str, *, until: int) -> None:
        self._purge(self._clock())
        key = revocation_key(token_id)
        if key not in self._until and len(self._until) >= self._max:
            raise RevocationUnavailable("revocation store is full")
        until = max(until, self._until.get(key, until))
        self._until[key] = until
        heapq.heappush(self._expiries, (until, key))

    async def is_revoked(self, token_id: str) -> bool:
        until = self._until.get(revocation_key(token_id))
        return until is not None and self._clock() <= until

    def _purge(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] < now:
            until, key = heapq.heappop(self._expiries)
            if self._until.get(key) == until:
                del self._until[key]


class RedisRevocationStore:
    """Shared by every replica, and asked on every check: no local cache.

    A cache would keep a revoked token good on other replicas until it aged
    out; one GET per verification is the price of immediate revocation.
    """

    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client

    async def revoke(self, token_id: str, *, until: int) -> None:
        try:
            await self._redis.set(revocation_key(token_id), b"1", exat=until)
        except (redis.exceptions.RedisError, OSError) as exc:
            raise RevocationUnavailable(f"redis: {type(exc).__name__}") from None

    async def is_revoked(self, token_id: str) -> bool:
        try:
            return bool(await self._redis.exists(revocation_key(token_id)))
        except (redis.exceptions.RedisError, OSError) as exc:
            raise RevocationUnavailable(f"redis: {type(exc).__name__}") from None
