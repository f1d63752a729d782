"""JWKSCache: decides when to fetch an issuer's keys, and what to serve when fetching fails.

Rules, per issuer:
- fresh keys (age < ttl) answer from a dict, with no await and no lock;
- one upstream fetch at a time (single flight): every caller that needs a
  refresh awaits the same task, shielded so a cancelled caller cannot cancel it;
- an unknown kid on fresh keys forces a refresh at most once per
  `unknown_kid_cooldown` since the last refresh an unknown kid caused, so random
  kids cannot drive traffic to the issuer. Only those refreshes arm it: the first
  fetch and TTL refreshes do not, or a key rotated just after we fetched would be
  refused for a whole cooldown;
- a failed fetch never replaces keys; cached keys younger than `max_stale`
  keep being served (stale-if-error);
- retry backoff after a failure: no upstream attempt for
  min(min_ttl, 1s * 2**(consecutive_failures - 1)) seconds, i.e. 1, 2, 4 ...
  capped at min_ttl (60s by default). A blip costs about a second; a long
  outage costs the issuer one request per min_ttl per replica.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from .keyset import parse_jwks
from .model import (
    IssuerSource,
    JWKSError,
    Key,
    KeyFetcher,
    KeyNotFound,
    KeysUnavailable,
    UnknownIssuer,
)
from .shared import SharedDocument, SharedKeyStore

log = logging.getLogger(__name__)

_RETRY_BASE = 1.0


@dataclass
class CacheStats:
    hits: int = 0
    fetches: int = 0
    fetch_failures: int = 0
    stale_serves: int = 0
    cooldown_hits: int = 0
    shared_hits: int = 0


@dataclass(frozen=True, slots=True)
class _Entry:
    keys: Mapping[str, Key]
    fetched_at: float
    ttl: float


class JWKSCache:
    def __init__(
        self,
        sources: Iterable[IssuerSource],
        fetcher: KeyFetcher,
        *,
        clock: Callable[[], float] = time.time,
        default_ttl: float = 300.0,
        min_ttl: float = 60.0,
        max_ttl: float = 3600.0,
        unknown_kid_cooldown: float = 60.0,
        max_stale: float = 86400.0,
        shared: SharedKeyStore | None = None,
    ) -> None:
        if not 0 < min_ttl <= max_ttl:
            raise ValueError("JWKSCache needs 0 < min_ttl <= max_ttl")
        self._sources: dict[str, IssuerSource] = {}
        for source in sources:
            if source.issuer in self._sources:
                raise ValueError(f"issuer {source.issuer!r} is configured twice")
            self._sources[source.issuer] = source
        self._fetcher = fetcher
        self._clock = clock
        self._default_ttl = default_ttl
        self._min_ttl = min_ttl
        self._max_ttl = max_ttl
        self._cooldown = unknown_kid_cooldown
        self._max_stale = max_stale
        self._shared = shared
        self.stats = CacheStats()
        self._entries: dict[str, _Entry] = {}
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._unknown_at: dict[str, float] = {}  # when an unknown kid last caused a refresh
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}
        self._last_error: dict[str, str] = {}

    def issuers(self) -> frozenset[str]:
        return frozenset(self._sources)

    async def get_key(self, issuer: str, kid: str) -> Key:
        # Both come from an unverified token header/payload: a JSON list there would make
        # the dict lookups below raise TypeError instead of a JWKSError.
        if not isinstance(issuer, str):
            raise UnknownIssuer("issuer must be a string")
        if not isinstance(kid, str):
            raise KeyNotFound("kid must be a string")
        entry = self._entries.get(issuer)
        if entry is not None and self._clock() - entry.fetched_at < entry.ttl:
            key = entry.keys.get(kid)
            if key is not None:
                self.stats.hits += 1
                return key
        if issuer not in self._sources:
            # Exact comparison only: the iss claim is compared, never interpreted.
            raise UnknownIssuer(f"issuer {_short(issuer)} is not configured")
        return await self._get_slow(issuer, kid, entry)

    async def _get_slow(self, issuer: str, kid: str, entry: _Entry | None) -> Key:
        now = self._clock()
        joining = issuer in self._inflight
        if entry is not None and now - entry.fetched_at < entry.ttl:
            # Fresh keys without this kid: maybe a rotation, maybe a kid sprayed at us.
            if not joining:
                if now - self._unknown_at.get(issuer, -math.inf) < self._cooldown:
                    self.stats.cooldown_hits += 1
                    raise KeyNotFound(f"issuer {issuer!r} has no key {_short(kid)}")
                if now < self._retry_at.get(issuer, -math.inf):
                    raise KeyNotFound(
                        f"issuer {issuer!r} has no key {_short(kid)} (issuer unreachable)"
                    )
                self._unknown_at[issuer] = now
            await self._refresh(issuer, kid)
        elif joining or now >= self._retry_at.get(issuer, -math.inf):
            await self._refresh(issuer, kid)
        return self._serve(issuer, kid)

    def _serve(self, issuer: str, kid: str) -> Key:
        entry = self._entries.get(issuer)
        error = self._last_error.get(issuer, "no keys fetched yet")
        if entry is None:
            raise KeysUnavailable(f"issuer {issuer!r}: no keys ({error})")
        age = self._clock() - entry.fetched_at
        if age >= self._max_stale:
            raise KeysUnavailable(
                f"issuer {issuer!r}: keys {age:.0f}s old, refresh failed ({error})"
            )
        key = entry.keys.get(kid)
        if key is None:
            raise KeyNotFound(f"issuer {issuer!r} has no key {_short(kid)}")
        if age >= entry.ttl:
            self.stats.stale_serves += 1
        return key

    async def _refresh(self, issuer: str, kid: str) -> None:
        task = self._inflight.get(issuer)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._load(issuer, kid))
            self._inflight[issuer] = task
            task.add_done_callback(lambda done: self._forget(issuer, done))
        # shield: a caller that gives up (client gone, request timeout) must not
        # cancel the fetch the other callers are waiting on.
        await asyncio.shield(task)

    def _forget(self, issuer: str, task: asyncio.Task[None]) -> None:
        if self._inflight.get(issuer) is task:
            del self._inflight[issuer]

    async def _load(self, issuer: str, kid: str) -> None:
        """The single-flight body. Never raises: outcomes land in self._entries/_last_error.

        `kid` is the one the starting caller needs: a shared document without it (another
        replica fetched before the issuer rotated) does not stand in for the issuer.
        """
        if await self._load_shared(issuer) and kid in self._entries[issuer].keys:
            return
        self.stats.fetches += 1
        try:
            fetched = await self._fetcher.fetch(self._sources[issuer])
            if not fetched.keys:
                raise JWKSError("fetcher returned no keys")
        except Exception as exc:  # any fetcher failure is a failed fetch, no more
            self._fail(issuer, str(exc) if isinstance(exc, JWKSError) else type(exc).__name__)
            return
        now = self._clock()
        ttl = self._clamp(fetched.max_age)
        self._entries[issuer] = _Entry(fetched.keys, now, ttl)
        self._failures.pop(issuer, None)
        self._retry_at.pop(issuer, None)
        self._last_error.pop(issuer, None)
        if self._shared is not None:
            try:
                await self._shared.save(issuer, SharedDocument(fetched.document, now, ttl))
            except Exception as exc:  # the shared level is only an optimisation
                log.warning("shared JWKS save for %s failed: %s", issuer, type(exc).__name__)

    async def _load_shared(self, issuer: str) -> bool:
        if self._shared is None:
            return False
        try:
            shared = await self._shared.load(issuer)
            if shared is None:
                return False
            ttl = self._clamp(shared.ttl)
            current = self._entries.get(issuer)
            # Only a fresh document newer than ours helps; an older one would roll keys back.
            if self._clock() - shared.fetched_at >= ttl or (
                current is not None and shared.fetched_at <= current.fetched_at
            ):
                return False
            keys = parse_jwks(shared.document)
        except Exception as exc:  # a bad shared entry means "go upstream"
            log.warning("shared JWKS for %s unusable: %s", issuer, type(exc).__name__)
            return False
        self._entries[issuer] = _Entry(keys, shared.fetched_at, ttl)
        self.stats.shared_hits += 1
        return True

    def _fail(self, issuer: str, error: str) -> None:
        self.stats.fetch_failures += 1
        failures = self._failures.get(issuer, 0) + 1
        self._failures[issuer] = failures
        backoff = min(self._min_ttl, _RETRY_BASE * 2 ** min(failures - 1, 30))
        self._retry_at[issuer] = self._clock() + backoff
        self._last_error[issuer] = error
        log.warning("JWKS fetch for %s failed (%d in a row): %s", issuer, failures, error)

    def _clamp(self, max_age: float | None) -> float:
        ttl = self._default_ttl if max_age is None else max_age
        return min(max(ttl, self._min_ttl), self._max_ttl)


def _short(value: str) -> str:
    # kid and iss come from an unverified token: bound what of them reaches logs and errors.
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
