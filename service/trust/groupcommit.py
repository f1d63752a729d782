"""Group commit: the records of concurrent callers written in one transaction.

Each caller waits until the transaction holding its record has committed, so
nothing is answered before it is durable; but sixteen mints in flight pay for one
commit, not sixteen. While one batch is being written the next one gathers.

A batch that fails with an exception `isolate` accepts (a constraint one record
breaks) is written again one record at a time, so a bad record fails only its own
caller. Any other failure (the store is down) goes to every caller of the batch at
once, without a retry per record, and each decides (the exchange answers 503).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_BATCH = 256
# Batches written at once. One: a batch's cost is mostly this process's own CPU (SQLAlchemy
# building and sending each statement, bench/trust_bench.py), so a second writer only split
# the queue into smaller batches: 0.40 of the floor's throughput with four, ~0.5 with one.
WRITERS = 1


class GroupCommit(Generic[T]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        isolate: Callable[[Exception], bool] = lambda exc: False,
        max_batch: int = MAX_BATCH,
        writers: int = WRITERS,
    ) -> None:
        self.write = write
        self.isolate = isolate
        self.max_batch = max_batch
        self.writers = writers
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        # Counted by the writers themselves, not by task completion: a writer that found
        # the queue empty has stopped taking work before its task is done, and a record
        # queued in between must start a new one, or wait for ever.
        self._active = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> None:
        """Return once `item` is committed; raise what writing it raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, done))
        if self._active < self.writers:
            self._active += 1
            writer = asyncio.create_task(self._drain())
            self._tasks.add(writer)
            writer.add_done_callback(self._tasks.discard)
        await done

    async def aclose(self) -> None:
        """Let the batches queued so far be written: their callers are owed an answer."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> None:
        try:
            await self._batches()
        finally:
            self._active -= 1

    async def _batches(self) -> None:
        while self._queue:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            try:
                await self.write([item for item, _ in batch])
            except Exception as exc:
                if self.isolate(exc):
                    await self._one_by_one(batch)
                    continue
                for _, done in batch:
                    _settle(done, exc)
                continue
            for _, done in batch:
                _settle(done, None)

    async def _one_by_one(self, batch: Sequence[tuple[T, asyncio.Future[None]]]) -> None:
        for item, done in batch:
            try:
                await self.write([item])
            except Exception as exc:
                _settle(done, exc)
            else:
                _settle(done, None)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():  # its caller was cancelled: the record is written all the same
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
