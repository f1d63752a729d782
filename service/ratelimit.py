"""Rate limits: fixed windows, counted in Redis when configured, in process otherwise.

A `Limit` is a name, a rate and what it counts per ("client address",
"publisher"); `RateLimiter.check(limit, key)` counts one request and answers
None or a `RateLimited` refusal carrying Retry-After. The mint routes use it
twice: per client address before the body is read (`AddressLimits`), and
per publisher lookup key after the signature is verified (`PublisherLimit`, in
the exchange). Login and 2FA routes add rules and keys of their own.

Fixed windows admit up to twice the rate across a window boundary; that is the
price of one INCR per check and is fine for shedding abuse.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import redis.asyncio as aioredis
import redis.exceptions
from starlette.responses import Response
from starlette.types import Scope

from service.observability.clientip import ClientAddress, limit_key
from service.publishers.base import Refusal

log = logging.getLogger(__name__)

RATE_LIMITED: Final = "rate-limited"
MAX_LIMIT = 1_000_000
MAX_WINDOW = 86400


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int
    window: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.window}"


def parse_rate(raw: str) -> Rate | None:
    """`N/SECONDS` (at most N requests per SECONDS-long window), or `off`."""
    if raw.lower() == "off":
        return None
    count, _, window = raw.partition("/")
    try:
        rate = Rate(int(count), int(window))
    except ValueError:
        raise ValueError(f"expected REQUESTS/SECONDS such as 60/60, or off; got {raw!r}") from None
    if not (1 <= rate.limit <= MAX_LIMIT and 1 <= rate.window <= MAX_WINDOW):
        raise ValueError(f"expected 1 to {MAX_LIMIT} requests per 1 to {MAX_WINDOW} seconds")
    return rate


@dataclass(frozen=True, slots=True)
class Limit:
    name: str  # the metric label and the store's namespace
    rate: Rate
    per: str  # for the refusal's sentence


@dataclass(frozen=True, slots=True)
class RateLimited(Refusal):
    retry_after: int = 1


class WindowsUnavailable(Exception):
    """The shared counter store did not answer."""


class WindowStore(Protocol):
    async def hit(self, key: str, window: int, now: float) -> int:
        """Count one request; the number counted in the window holding `now`, this one included."""
        ...


class MemoryWindows:
    """One process's counters, bounded: a flood of fresh keys cannot grow it without limit."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._max = max_keys
        self._counts: dict[tuple[str, int], list[int]] = {}

    async def hit(self, key: str, window: int, now: float) -> int:
        index = int(now // window)
        slot = (key, window)
        entry = self._counts.get(slot)
        if entry is not None and entry[0] == index:
            entry[1] += 1
            return entry[1]
        if entry is None and len(self._counts) >= self._max:
            self._purge(now)
            if len(self._counts) >= self._max:
                # Full of live windows: counting nothing for a new key is the lesser harm than
                # forgetting a live one (which resets a key that is being limited).
                return 0
        self._counts[slot] = [index, 1]
        return 1

    def _purge(self, now: float) -> None:
        stale = [s for s, (index, _) in self._counts.items() if index != int(now // s[1])]
        for slot in stale:
            del self._counts[slot]


# One atomic step: the first hit of a window also sets its expiry, so no counter outlives
# its window and a crash between two commands cannot leave one without a TTL. One command
# (EVALSHA) is also cheaper than a MULTI pipeline through redis-py.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class RedisWindows:
    """Shared by every replica: one Lua call per check."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._count = client.register_script(_COUNT)

    async def hit(self, key: str, window: int, now: float) -> int:
        index = int(now // window)
        # Hashed: a key may hold anything a verified token says; Redis keys stay short.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        name = f"mintgate:ratelimit:{digest}:{window}:{index}"
        try:
            count = await self._count(keys=[name], args=[window + 1])
        except (redis.exceptions.RedisError, OSError) as exc:
            raise WindowsUnavailable(f"redis: {type(exc).__name__}") from None
        return int(count)


def _ignore(name: str) -> None:
    pass


class RateLimiter:
    def __init__(
        self,
        store: WindowStore,
        *,
        clock: Callable[[], float] = time.time,
        on_limited: Callable[[str], None] = _ignore,
        on_unavailable: Callable[[str], None] = _ignore,
    ) -> None:
        self._store = store
        self._fallback = MemoryWindows()
        self._clock = clock
        self._on_limited = on_limited
        self._on_unavailable = on_unavailable

    async def check(self, limit: Limit, key: str) -> RateLimited | None:
        now = self._clock()
        rate = limit.rate
        scoped = f"{limit.name}\x00{key}"
        try:
            count = await self._store.hit(scoped, rate.window, now)
        except WindowsUnavailable as exc:
            # Neither fail open nor closed: count in this process until Redis is back. Open
            # would drop every limit exactly when Redis may be down because of a flood;
            # closed would refuse everyone over a counter store (mints already fail closed
            # on the replay store, the same Redis, so closing here protects nothing more,
            # and login routes would lock every user out). Per process, a limit holds at
            # worst once per replica.
            log.warning("rate-limit store unavailable, counting in process: %s", exc)
            self._on_unavailable("ratelimit")
            count = await self._fallback.hit(scoped, rate.window, now)
        if count <= rate.limit:
            return None
        self._on_limited(limit.name)
        retry_after = max(1, math.ceil((int(now // rate.window) + 1) * rate.window - now))
        return RateLimited(
            RATE_LIMITED,
            f"rate limited: more than {rate.limit} requests in {rate.window}s from this"
            f" {limit.per}; retry after {retry_after}s",
            retry_after=retry_after,
        )


class PublisherLimit:
    """Per publisher lookup key (GitHub repository, GitLab project path), after verification.

    Only a token signed by the issuer names a repository, so nobody can spend another
    repository's budget; a runaway matrix job spends its own.
    """

    def __init__(self, limiter: RateLimiter, limit: Limit) -> None:
        self._limiter = limiter
        self._limit = limit

    async def check(self, issuer: str, lookup_key: str) -> Refusal | None:
        return await self._limiter.check(self._limit, f"{issuer}\x00{lookup_key}")


class AddressLimits:
    """Per client address on the paths in `rules`, before the body is read.

    The observability middleware's `gate`: it asks with each HTTP request's scope
    and sends the answer, if any, instead of calling the app.
    """

    def __init__(
        self,
        *,
        limiter: RateLimiter,
        rules: Mapping[str, Limit],
        clients: ClientAddress,
        respond: Callable[[RateLimited], Response],
    ) -> None:
        self.limiter = limiter
        self.rules = dict(rules)
        self.clients = clients
        self.respond = respond

    async def __call__(self, scope: Scope) -> Response | None:
        limit = self.rules.get(scope["path"])
        if limit is None:
            return None
        refused = await self.limiter.check(limit, limit_key(self.clients.of(scope)))
        return None if refused is None else self.respond(refused)
