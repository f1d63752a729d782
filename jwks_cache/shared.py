"""Optional second level so replicas share fetched JWKS instead of each asking the issuer.

Only the raw document travels through the store; every reader parses it again
under the same keyset rules, so junk in the store is refused like junk from the
issuer. But the store is not authenticated: whoever can write these Redis keys
can publish a public key of their own for any issuer and so forge tokens.
Guard this Redis like the minting key, or run without the shared level.
The level is an optimisation: any store failure is logged and read as
"nothing shared".
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SharedDocument:
    document: bytes  # raw JWKS bytes as fetched upstream
    fetched_at: float  # writer's clock when the fetch completed
    ttl: float  # freshness the writer granted (already clamped)


class SharedKeyStore(Protocol):
    async def load(self, issuer: str) -> SharedDocument | None: ...

    async def save(self, issuer: str, shared: SharedDocument) -> None: ...


class RedisSharedKeys:
    """`SharedKeyStore` on Redis: one string per issuer, expiring with the document's ttl.

    `timeout` bounds each call even when the client was built without socket
    timeouts: a hung Redis must cost a request a moment, not the fetch deadline.
    """

    def __init__(
        self,
        redis: redis.asyncio.Redis,
        *,
        prefix: str = "mintgate:jwks:",
        timeout: float = 1.0,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._timeout = timeout

    async def load(self, issuer: str) -> SharedDocument | None:
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._redis.get(self._prefix + issuer)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("shared JWKS load for %s failed: %s", issuer, type(exc).__name__)
            return None
        if raw is None:
            return None
        shared = _decode(raw)
        if shared is None:
            log.warning("shared JWKS entry for %s is malformed; ignored", issuer)
        return shared

    async def save(self, issuer: str, shared: SharedDocument) -> None:
        # One SET with EX: the value and its expiry land together, no half-written entry.
        value = f"{shared.fetched_at!r}\n{shared.ttl!r}\n".encode() + shared.document
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis.set(
                    self._prefix + issuer, value, ex=max(1, math.ceil(shared.ttl))
                )
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("shared JWKS save for %s failed: %s", issuer, type(exc).__name__)


def _decode(raw: object) -> SharedDocument | None:
    if isinstance(raw, str):  # a client built with decode_responses=True
        raw = raw.encode()
    if not isinstance(raw, bytes):
        return None
    parts = raw.split(b"\n", 2)
    if len(parts) != 3:
        return None
    try:
        fetched_at, ttl = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(fetched_at) and math.isfinite(ttl)):
        return None
    return SharedDocument(document=parts[2], fetched_at=fetched_at, ttl=ttl)
