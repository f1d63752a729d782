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
from datetime import datetime
from typing import Final

import redis.asyncio as aioredis
import redis.exceptions

from service.redisclient import COMMAND_TIMEOUT
from service.revocation import RevocationUnavailable
from service.store.records_publishing import MintedTokenRecord
from service.trust.journal import FIELD, stream_pages
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
        self,
        *,
        publisher_id: int | None,
        repository: str | None,
        unexpired_at: datetime,
        since: datetime | None,
        until: datetime | None,
    ) -> list[MintedTokenRecord]:
        """Transaction.minted_tokens' question, asked of the records still in the stream.
        RevocationUnavailable when Redis cannot answer: a freeze must not report what it
        could not read."""

        def asked(token: MintedTokenRecord) -> bool:  # minted_tokens' WHERE, on one row
            return (
                token.expires_at > unexpired_at
                and (publisher_id is None or token.publisher_id == publisher_id)
                and (repository is None or token.repository == repository)
                and (since is None or token.issued_at >= since)
                and (until is None or token.issued_at <= until)
            )

        out: list[MintedTokenRecord] = []
        try:
            async for entries in stream_pages(self._redis, self.key):
                for _, fields in entries:
                    out.extend(token for token in _tokens(fields) if asked(token))
        except (redis.exceptions.RedisError, OSError) as exc:
            raise RevocationUnavailable(f"mint journal: {type(exc).__name__}") from None
        return out


def _tokens(fields: dict[bytes, bytes]) -> list[MintedTokenRecord]:
    try:
        return MintEntry.from_json(fields[FIELD]).minted_tokens()
    except (KeyError, ValueError, TypeError):
        return []  # the drain sets it aside in `:rejected` and logs it
