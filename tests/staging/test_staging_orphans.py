"""Files an intake wrote but died before recording are deleted by the sweep, once old enough.

An orphan is made the way a crash leaves one: `area.put` without the database row
that intake.py adds next. Ages are set with os.utime against the injected clock.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fakeissuer import Clock
from stagingkit import PROJECT, FakeForwarder, chunks_of, stage, team

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.publishers.base import Refusal
from service.staging.approve import Approvals
from service.staging.area import FileStagingArea
from service.staging.intake import Intake
from service.staging.review import ORPHAN_AFTER, StagedSweep, sweep
from service.store import SqlStore, sql_staging

pytestmark = pytest.mark.anyio
WHEEL = f"{PROJECT}-1.0.0-py3-none-any.whl"


def _age(path: Path, at: datetime) -> None:
    os.utime(path, (at.timestamp(), at.timestamp()))


async def _orphan(area: FileStagingArea, at: datetime) -> str:
    stored = await area.put(chunks_of(b"never recorded " * 100))
    _age(area.root / stored.key, at)
    return stored.key


async def test_an_unrecorded_file_older_than_the_bound_is_removed_a_younger_one_kept(
    area: FileStagingArea, deps: Deps, store: SqlStore
) -> None:
    bound = deps.now() - ORPHAN_AFTER
    old = await _orphan(area, bound - timedelta(seconds=1))
    young = await _orphan(area, bound + timedelta(seconds=1))  # its intake may yet record it

    swept = await sweep(deps, area)

    assert swept.orphans == [old]
    assert (swept.expired, swept.recovered) == ([], [])
    assert [p.name for p in area.root.iterdir()] == [young]
    assert await sweep(deps, area) == StagedSweep()  # nothing left to do


async def test_an_abandoned_partial_write_is_removed_and_nothing_outside_the_area(
    area: FileStagingArea, deps: Deps, store: SqlStore, tmp_path: Path
) -> None:
    old = deps.now() - ORPHAN_AFTER - timedelta(seconds=1)
    await _orphan(area, deps.now())  # makes the directory
    partial = area.root / f".{'a' * 32}.partial"  # a put() whose process died mid-write
    partial.write_bytes(b"half a whe")
    outside = tmp_path / "precious"
    outside.write_bytes(b"not ours")
    link = area.root / ("b" * 32)  # named like a key, pointing out of the area
    link.symlink_to(outside)
    stray = area.root / "notes.txt"  # not a name put() makes
    stray.write_bytes(b"operator's")
    for path in (partial, outside, stray):
        _age(path, old)
    os.utime(link, (old.timestamp(), old.timestamp()), follow_symlinks=False)

    assert (await sweep(deps, area)).orphans == [partial.name]

    assert not partial.exists()
    assert link.is_symlink()
    assert outside.read_bytes() == b"not ours"
    assert stray.exists()


async def test_old_files_of_a_waiting_release_are_kept_and_it_can_still_be_approved(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    area: FileStagingArea,
    approvals: Approvals,
    forwarder: FakeForwarder,
    deps: Deps,
) -> None:
    people = await team(accounts, store, clock)
    release = await stage(intake, store, WHEEL, b"wheel" * 1000)
    old = deps.now() - ORPHAN_AFTER - timedelta(days=1)
    recorded = area.root / release.files[0].storage_key
    _age(recorded, old)  # waiting for a maintainer for two days: still named by its row
    orphan = await _orphan(area, old)

    assert (await sweep(deps, area)).orphans == [orphan]

    assert [p.name for p in area.root.iterdir()] == [recorded.name]
    measured = await area.measure(recorded.name)
    assert measured is not None
    assert measured.sha256 == release.files[0].sha256
    bob = people["bob"]
    approved = await approvals.approve(bob.ctx, release.id, release.digest, bob.proof(clock))
    assert not isinstance(approved, Refusal), approved
    assert approved.status == "approved"
    assert forwarder.received == {WHEEL: b"wheel" * 1000}


async def test_a_file_recorded_while_the_sweep_listed_is_kept(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    area: FileStagingArea,
    deps: Deps,
) -> None:
    """The intake records its file after the listing: the sweep reads the rows after it."""
    await team(accounts, store, clock)
    staged: list[str] = []

    class RecordingMidway(FileStagingArea):
        async def keys_before(self, cutoff: datetime) -> list[str]:
            listed = await super().keys_before(cutoff)
            release = await stage(intake, store, WHEEL)
            staged.append(release.files[0].storage_key)
            return [*listed, staged[0]]  # as if its file had been old enough to list

    swept = await sweep(deps, RecordingMidway(area.root))
    assert swept.orphans == []
    assert [p.name for p in area.root.iterdir()] == staged


async def test_the_named_keys_are_asked_for_in_batches(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However many old files the area holds, each query names at most KEYS_PER_QUERY."""
    await team(accounts, store, clock)
    recorded = (await stage(intake, store, WHEEL)).files[0].storage_key
    monkeypatch.setattr(sql_staging, "KEYS_PER_QUERY", 1)
    async with store.transaction() as tx:
        named = await tx.named_storage_keys(["0" * 32, recorded, "1" * 32])
    assert named == {recorded}
