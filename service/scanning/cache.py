"""PublicKeyCache: when to fetch GitHub's scanning keys, and what to serve when that fails.

The same rules as `jwks_cache.cache`, for one document:
- fresh keys (age < ttl) answer from a dict, no await;
- one fetch at a time (single flight), shielded from cancelled callers;
- an unknown identifier on fresh keys refetches at most once per `cooldown`:
  a rotation is picked up at once, a sprayed header cannot spend GitHub's
  rate limit for us (at most one such fetch per cooldown, plus one per ttl).
  Only those refetches arm the cooldown: the first fetch and TTL refreshes do
  not, or a key rotated in just after we fetched would be refused for a minute;
- a failed fetch never replaces keys; keys younger than `max_stale` keep
  verifying (stale-if-error), and retries back off 1, 2, 4 ... s up to `cooldown`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from .keys import KeysUnavailable, NotModified, PublicKeyFetcher, PublicKeys, UnknownKey

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Entry:
    keys: PublicKeys
    etag: str | None
    fetched_at: float


class PublicKeyCache:
    def __init__(
        self,
        fetcher: PublicKeyFetcher,
        *,
        clock: Callable[[], float] = time.time,
        ttl: float = 600.0,
        cooldown: float = 60.0,
        max_stale: float = 86400.0,
    ) -> None:
        self._fetcher = fetcher
        self._clock = clock
        self._ttl = ttl
        self._cooldown = cooldown
        self._max_stale = max_stale
        self._entry: _Entry | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._unknown_at = -math.inf
        self._retry_at = -math.inf
        self._failures = 0
        self._error = "no keys fetched yet"

    async def get(self, identifier: str) -> ec.EllipticCurvePublicKey:
        """Raises UnknownKey, or KeysUnavailable when nothing usable is cached."""
        now = self._clock()
        entry = self._entry
        fresh = entry is not None and now - entry.fetched_at < self._ttl
        if fresh and entry is not None and identifier in entry.keys:
            return entry.keys[identifier]
        if self._inflight is not None:
            await self._refresh()
        elif fresh:
            if now - self._unknown_at < self._cooldown or now < self._retry_at:
                raise UnknownKey(f"no key {identifier!r} (refetched {self._cooldown:g}s ago)")
            self._unknown_at = now
            await self._refresh()
        elif now >= self._retry_at:
            await self._refresh()
        return self._serve(identifier)

    def _serve(self, identifier: str) -> ec.EllipticCurvePublicKey:
        entry = self._entry
        if entry is None:
            raise KeysUnavailable(f"no keys ({self._error})")
        age = self._clock() - entry.fetched_at
        if age >= self._max_stale:
            raise KeysUnavailable(f"keys {age:.0f}s old and the refresh failed ({self._error})")
        key = entry.keys.get(identifier)
        if key is None:
            raise UnknownKey(f"no key {identifier!r}")
        return key

    async def _refresh(self) -> None:
        task = self._inflight
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load())
            self._inflight = task
            task.add_done_callback(self._forget)
        # shield: one caller giving up must not cancel the fetch the others wait on.
        await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _load(self) -> None:
        """The single-flight body. Never raises: the outcome lands in the attributes."""
        current = self._entry
        try:
            fetched = await self._fetcher.fetch(current.etag if current is not None else None)
        except Exception as exc:  # any fetcher failure is a failed fetch, no more
            self._fail(str(exc) or type(exc).__name__)
            return
        now = self._clock()
        if isinstance(fetched, NotModified):
            if current is not None:
                self._entry = _Entry(current.keys, current.etag, now)
        else:
            self._entry = _Entry(fetched.keys, fetched.etag, now)
        self._failures = 0
        self._retry_at = -math.inf

    def _fail(self, error: str) -> None:
        self._failures += 1
        self._retry_at = self._clock() + min(self._cooldown, 2.0 ** min(self._failures - 1, 30))
        self._error = error
        log.warning("secret-scanning key fetch failed (%d in a row): %s", self._failures, error)
