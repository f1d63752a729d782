"""Mints answered whose records may not be in minted_tokens yet: the mint journal's stream.

A freeze (accounts/incident.py) revokes what a publisher minted by reading
minted_tokens. With the mint journal (trust/journal.py) a record reaches SQL
about LINGER after its token was answered, or much later when SQL was down or
the replica that minted it died before writing it (the sweep, after 30 s); and
other replicas keep minting for up to the trust index's bound after the freeze
commits. Every record stays in the stream from its mint until its SQL commit,
whichever replica minted it, so the stream read *before* minted_tokens sees
every mint: one committed and deleted in between is in the second read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import redis.asyncio as aioredis
import redis.exceptions

from service.redisclient import COMMAND_TIMEOUT
from service.revocation import RevocationUnavailable
from service.store.records_publishing import MintedTokenRecord
from service.trust.journal import BATCH, FIELD
from service.trust.records import MintEntry

# A mint that read trust before a change was visible claims (and records) within the
# trust index's bound (1 s) plus the claim's own command timeout: after that, every
# such mint is in the stream or in SQL.
SETTLE_SECONDS: Final = 1.0 + COMMAND_TIMEOUT


class UnwrittenMints:
    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        *,
        settle_seconds: float = SETTLE_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._redis = redis
        self.key = key
        self.settle_seconds = settle_seconds
        self._sleep = sleep

    async def settle(self) -> None:
        """Return once every mint that read trust before this call has been recorded."""
        await self._sleep(self.settle_seconds)

    async def minted(
        self, *, publisher_id: int | None, repository: str | None
    ) -> list[MintedTokenRecord]:
        """The records still in the stream for the publisher and/or repository (both
        given: both must match, as minted_tokens is asked). RevocationUnavailable when
        Redis cannot answer: a freeze must not report what it could not read."""
        out: list[MintedTokenRecord] = []
        start = "-"
        try:
            while True:
                entries: Any = await self._redis.xrange(self.key, start, "+", count=BATCH)
                for _, fields in entries:
                    out.extend(_matching(fields, publisher_id, repository))
                if len(entries) < BATCH:
                    return out
                last = entries[-1][0]
                start = f"({last.decode() if isinstance(last, bytes) else last}"
        except (redis.exceptions.RedisError, OSError) as exc:
            raise RevocationUnavailable(f"mint journal: {type(exc).__name__}") from None


def _matching(
    fields: dict[bytes, bytes], publisher_id: int | None, repository: str | None
) -> list[MintedTokenRecord]:
    try:
        entry = MintEntry.from_json(fields[FIELD])
    except (KeyError, ValueError, TypeError):
        return []  # the drain sets it aside in `:rejected` and logs it
    return [
        MintedTokenRecord(
            jti=entry.jti,
            publisher_id=ref,
            project=project,
            issuer=entry.issuer,
            repository=lookup_key,
            issued_at=_at(entry.issued),
            expires_at=_at(entry.expires),
        )
        for ref, project, _, lookup_key in entry.uses
        if (publisher_id is None or ref == publisher_id)
        and (repository is None or lookup_key == repository)
    ]


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
