"""A bounded stream of mint requests, every one recorded with when it was sent and answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

MINT = "/_/oidc/mint-token"


@dataclass(frozen=True, slots=True)
class Attempt:
    claims: dict[str, Any]
    token: str
    sent: float  # time.monotonic() just before the request left
    done: float  # time.monotonic() when the whole response was read
    status: int
    body: Any
    headers: httpx.Headers

    def code(self) -> str | None:
        errors = self.body.get("errors") if isinstance(self.body, dict) else None
        return errors[0]["code"] if errors else None

    def minted(self) -> bool:
        return self.status == 200 and isinstance(self.body.get("token"), str)


class Stream:
    """`workers` clients each sending one request after another until stopped or out of tokens.

    Tests wait on it with `until(predicate)`: woken at each answer, bounded by a deadline,
    never by a sleep.
    """

    def __init__(
        self, client: httpx.AsyncClient, tokens: Iterator[tuple[str, dict[str, Any]]]
    ) -> None:
        self.client = client
        self.tokens = tokens
        self.attempts: list[Attempt] = []
        self.stopped = asyncio.Event()
        self._changed = asyncio.Condition()

    async def worker(self) -> None:
        while not self.stopped.is_set():
            try:
                token, claims = next(self.tokens)
            except StopIteration:
                return
            sent = time.monotonic()
            response = await self.client.post(MINT, json={"token": token})
            body = response.json()
            attempt = Attempt(
                claims, token, sent, time.monotonic(), response.status_code, body, response.headers
            )
            async with self._changed:
                self.attempts.append(attempt)
                self._changed.notify_all()

    async def until(
        self, ready: Callable[[list[Attempt]], bool], what: str, within: float
    ) -> float:
        """Wait until `ready(attempts)` holds; returns the monotonic time it first did."""
        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: ready(self.attempts))
        except TimeoutError:
            raise AssertionError(
                f"not {what} after {within:g}s ({len(self.attempts)} answers)"
            ) from None
        return time.monotonic()


def summary(attempts: list[Attempt]) -> dict[tuple[int, str | None], int]:
    """(status, code) -> count: what a failing assertion shows."""
    counts: dict[tuple[int, str | None], int] = {}
    for attempt in attempts:
        key = (attempt.status, attempt.code())
        counts[key] = counts.get(key, 0) + 1
    return counts
