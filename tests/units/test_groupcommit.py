"""Group commit: concurrent records share a write, and each caller learns its own fate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from service.trust.groupcommit import GroupCommit

pytestmark = pytest.mark.anyio


class Rejected(Exception):
    pass


class Writer:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.down = False

    async def __call__(self, items: Sequence[int]) -> None:
        self.entered.set()
        await self.gate.wait()
        if self.down:
            raise OSError("database down")
        if len(items) > 1 and 13 in items:
            raise Rejected("13 breaks a constraint")
        if list(items) == [13]:
            raise Rejected("13 breaks a constraint")
        self.batches.append(list(items))


async def test_callers_arriving_while_every_writer_is_busy_share_the_next_write() -> None:
    writer = Writer()
    commits = GroupCommit(writer, isolate=lambda exc: isinstance(exc, Rejected), writers=1)
    writer.gate.clear()
    first = asyncio.create_task(commits.submit(0))
    await writer.entered.wait()
    rest = [asyncio.create_task(commits.submit(n)) for n in range(1, 9)]
    await asyncio.sleep(0)  # let them queue (no timing: each submit queues synchronously)
    assert not first.done()
    writer.gate.set()
    await asyncio.gather(first, *rest)
    assert writer.batches == [[0], list(range(1, 9))]


async def test_no_caller_returns_before_its_record_is_written() -> None:
    writer = Writer()
    commits = GroupCommit(writer)
    writer.gate.clear()
    pending = asyncio.create_task(commits.submit(1))
    await writer.entered.wait()
    assert not pending.done()
    writer.gate.set()
    await pending
    assert writer.batches == [[1]]


async def test_one_bad_record_fails_only_its_own_caller() -> None:
    writer = Writer()
    commits = GroupCommit(writer, isolate=lambda exc: isinstance(exc, Rejected), writers=1)
    writer.gate.clear()
    blocker = asyncio.create_task(commits.submit(0))
    await writer.entered.wait()
    batch = [asyncio.create_task(commits.submit(n)) for n in (12, 13, 14)]
    await asyncio.sleep(0)
    writer.gate.set()
    results = await asyncio.gather(blocker, *batch, return_exceptions=True)
    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "Rejected", "NoneType"]
    assert writer.batches == [[0], [12], [14]]


async def test_an_outage_fails_the_whole_batch_without_a_retry_per_record() -> None:
    writer = Writer()
    writer.down = True
    commits = GroupCommit(writer, isolate=lambda exc: isinstance(exc, Rejected))
    calls = 0
    inner = writer.__call__

    async def counted(items: Sequence[int]) -> None:
        nonlocal calls
        calls += 1
        await inner(items)

    commits.write = counted
    results = await asyncio.gather(*(commits.submit(n) for n in range(5)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert calls == 1


async def test_a_cancelled_caller_does_not_stop_the_others() -> None:
    writer = Writer()
    commits = GroupCommit(writer, writers=1)
    writer.gate.clear()
    gone = asyncio.create_task(commits.submit(1))
    stays = asyncio.create_task(commits.submit(2))
    await writer.entered.wait()
    gone.cancel()
    writer.gate.set()
    await stays
    await commits.aclose()
    assert writer.batches == [[1, 2]]


async def test_a_second_writer_overlaps_the_first_ones_commit() -> None:
    writer = Writer()
    commits = GroupCommit(writer, writers=2)
    writer.gate.clear()
    first = asyncio.create_task(commits.submit(1))
    await writer.entered.wait()
    writer.entered.clear()
    second = asyncio.create_task(commits.submit(2))
    await writer.entered.wait()  # entered while the first write is still held open
    assert not first.done()
    writer.gate.set()
    await asyncio.gather(first, second)
    assert sorted(writer.batches) == [[1], [2]]


@pytest.mark.parametrize("writers", [1, 4])
async def test_one_caller_after_another_is_never_left_waiting(writers: int) -> None:
    """Each submit after the previous one returned: the writer that wrote the last batch
    has stopped taking work, though its task is not yet done when the caller resumes."""
    writer = Writer()
    commits = GroupCommit(writer, writers=writers)

    async def one_after_another() -> None:
        for n in range(5):
            await commits.submit(n)  # awaited directly: a wrapping task would hide the race

    await asyncio.wait_for(one_after_another(), timeout=5)  # a guard: the bug hangs
    assert writer.batches == [[n] for n in range(5)]
