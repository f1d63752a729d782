"""An approval whose process died mid-forward is put back to waiting by the sweep, and only then.

The crash is a forwarder raising what approve.py does not catch, after the first
file reached the registry: the release is left in `approving`, as a killed
process would leave it. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from accounts.accounts_helpers import RecordingNotifier
from fakeissuer import Clock
from stagingkit import PROJECT, FakeForwarder, Maintainer, stage, team

from service.accounts import totp
from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.publishers.base import Refusal
from service.staging.approve import Approvals
from service.staging.area import FileStagingArea
from service.staging.backend import Chunks
from service.staging.intake import Intake
from service.staging.proof import Confirmations
from service.staging.review import APPROVAL_STALLED, StagedSweep, sweep
from service.store import SqlStore, Transaction
from service.store.records_staging import StagedFileRecord, StagedReleaseRecord

pytestmark = pytest.mark.anyio
WHEEL = f"{PROJECT}-1.0.0-py3-none-any.whl"
SDIST = f"{PROJECT}-1.0.0.tar.gz"
BOUND = APPROVAL_STALLED.total_seconds()


class Crash(Exception):
    """Stands for the process dying: nothing in approve.py handles it."""


@dataclass
class CrashingForwarder(FakeForwarder):
    """Sends `whole` files, then dies while sending the next one."""

    whole: int = 1

    async def send(self, staged: StagedFileRecord, chunks: Chunks) -> Refusal | None:
        if self.sends == self.whole:
            self.sends += 1
            raise Crash(staged.filename)
        return await super().send(staged, chunks)


@dataclass
class HeldForwarder(FakeForwarder):
    """Tells when an approval reached it, then waits for the gate."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, staged: StagedFileRecord, chunks: Chunks) -> Refusal | None:
        self.arrived.set()
        return await super().send(staged, chunks)


async def _release(store: SqlStore, release_id: int) -> StagedReleaseRecord:
    async with store.transaction() as tx:
        found = await tx.staged_release(release_id)
    assert found is not None
    return found


async def _events(store: SqlStore) -> list[str]:
    async with store.transaction() as tx:
        events = await tx.audit_events(project=PROJECT)
    return [e.event for e in events if e.event.startswith("staged:")]


def _approvals(accounts: Accounts, area: FileStagingArea, forwarder: FakeForwarder) -> Approvals:
    return Approvals(accounts.deps, area, forwarder, Confirmations(accounts))


async def _crashed(
    accounts: Accounts, store: SqlStore, clock: Clock, intake: Intake, area: FileStagingArea
) -> tuple[dict[str, Maintainer], StagedReleaseRecord]:
    """A two-file release whose approval died after forwarding the wheel."""
    people = await team(accounts, store, clock)
    await stage(intake, store, WHEEL, b"wheel" * 1000)
    release = await stage(intake, store, SDIST, b"sdist" * 3000)
    bob = people["bob"]
    with pytest.raises(Crash):
        await _approvals(accounts, area, CrashingForwarder()).approve(
            bob.ctx, release.id, release.digest, bob.proof(clock)
        )
    left = await _release(store, release.id)
    assert left.status == "approving"
    assert [f.forwarded_at is not None for f in left.files] == [True, False]
    return people, left


async def test_a_stalled_approval_waits_again_once_the_bound_has_passed(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    area: FileStagingArea,
    deps: Deps,
    notices: RecordingNotifier,
) -> None:
    _, crashed = await _crashed(accounts, store, clock, intake, area)
    assert crashed.approving_since == deps.now()

    clock.advance(BOUND - 1)  # still within what forwarding large files may take
    assert await sweep(deps, area) == StagedSweep()
    assert (await _release(store, crashed.id)).status == "approving"

    clock.advance(1)
    swept = await sweep(deps, area)
    assert ([r.id for r in swept.recovered], swept.expired) == ([crashed.id], [])
    recovered = await _release(store, crashed.id)
    assert (recovered.status, recovered.approving_since) == ("staged", None)
    # Nothing is discarded, and what reached the registry is remembered.
    assert recovered.files == crashed.files
    assert sorted(p.name for p in area.root.iterdir()) == sorted(
        f.storage_key for f in crashed.files
    )
    assert (await _events(store))[-1] == "staged:approval-stalled"
    assert ("alice", "release-approval-stalled") in notices.events()
    assert await sweep(deps, area) == StagedSweep()  # once


async def test_after_recovery_an_approval_forwards_only_the_files_not_yet_sent(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    area: FileStagingArea,
    deps: Deps,
) -> None:
    people, crashed = await _crashed(accounts, store, clock, intake, area)
    clock.advance(BOUND)
    assert [r.id for r in (await sweep(deps, area)).recovered] == [crashed.id]

    forwarder = FakeForwarder()
    alice = people["alice"]
    approved = await _approvals(accounts, area, forwarder).approve(
        alice.ctx, crashed.id, crashed.digest, alice.proof(clock)
    )
    assert not isinstance(approved, Refusal), approved
    assert (approved.status, approved.decided_by, approved.approving_since) == (
        "approved", "alice", None,
    )  # fmt: skip
    assert forwarder.sends == 1
    assert forwarder.received == {SDIST: b"sdist" * 3000}
    assert approved.files[0].forwarded_at == crashed.files[0].forwarded_at


@dataclass
class InProgress:
    people: dict[str, Maintainer]
    forwarder: HeldForwarder
    release: StagedReleaseRecord
    approving: asyncio.Task[StagedReleaseRecord | Refusal]


async def _in_progress(
    accounts: Accounts, store: SqlStore, clock: Clock, intake: Intake, area: FileStagingArea
) -> InProgress:
    """An approval held inside its first forward, claimed more than the bound ago."""
    people = await team(accounts, store, clock)
    release = await stage(intake, store)
    forwarder = HeldForwarder(gate=asyncio.Event())
    bob = people["bob"]
    approving = asyncio.create_task(
        _approvals(accounts, area, forwarder).approve(
            bob.ctx, release.id, release.digest, bob.proof(clock)
        )
    )
    await forwarder.arrived.wait()
    clock.advance(BOUND)
    return InProgress(people, forwarder, release, approving)


class Interleaved:
    """The store, running `between` once: after the first transaction, before the next."""

    def __init__(self, store: SqlStore, between: Callable[[], Awaitable[None]]) -> None:
        self.store = store
        self.between = between
        self.opened = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        self.opened += 1
        if self.opened == 2:
            await self.between()
        async with self.store.transaction() as tx:
            yield tx

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


async def test_an_approval_finishing_after_the_sweep_looked_is_left_alone(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    area: FileStagingArea,
    deps: Deps,
    notices: RecordingNotifier,
) -> None:
    held = await _in_progress(accounts, store, clock, intake, area)
    forwarder, release, approving = held.forwarder, held.release, held.approving

    async def finish() -> None:
        # The sweep has read the release as stalled; the approval completes before it acts.
        assert forwarder.gate is not None
        forwarder.gate.set()
        await approving

    racing = replace(deps, store=Interleaved(store, finish))  # type: ignore[arg-type]
    assert await sweep(racing, area) == StagedSweep()
    approved = approving.result()
    assert not isinstance(approved, Refusal), approved
    assert (await _release(store, release.id)).status == "approved"
    assert "staged:approval-stalled" not in await _events(store)
    assert "release-approval-stalled" not in {e for _, e in notices.events()}


async def test_an_approval_recovered_while_still_forwarding_does_not_claim_approval(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    area: FileStagingArea,
    deps: Deps,
) -> None:
    held = await _in_progress(accounts, store, clock, intake, area)
    forwarder, release, approving = held.forwarder, held.release, held.approving
    assert [r.id for r in (await sweep(deps, area)).recovered] == [release.id]
    assert forwarder.gate is not None
    forwarder.gate.set()
    late = await approving
    assert isinstance(late, Refusal)
    assert late.code == "staged-release-decided"
    waiting = await _release(store, release.id)
    assert waiting.status == "staged"
    assert "staged:approved" not in await _events(store)
    # The file did reach the registry: the next approval sends nothing and completes.
    assert all(f.forwarded_at is not None for f in waiting.files)
    clock.advance(totp.STEP)
    forwarder.gate = None
    bob = held.people["bob"]
    approved = await _approvals(accounts, area, forwarder).approve(
        bob.ctx, release.id, release.digest, bob.proof(clock)
    )
    assert not isinstance(approved, Refusal), approved
    assert forwarder.sends == 1
