"""Approving, rejecting and expiring staged releases over the real store (SQLite and PostgreSQL).

Every refusal leaves the registry (a fake forwarder) untouched and the release waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest
from accounts.accounts_helpers import RecordingNotifier, make_accounts
from fakeissuer import Clock
from stagingkit import PROJECT, FakeForwarder, Maintainer, stage, team

from service.accounts import totp
from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.publishers.base import Refusal
from service.staging.approve import Approvals
from service.staging.area import FileStagingArea
from service.staging.intake import Intake
from service.staging.proof import Confirmations, Proof, TotpProof
from service.staging.review import StagedSweep, reject_staged, sweep
from service.store import SqlStore
from service.store.records_staging import StagedReleaseRecord

pytestmark = pytest.mark.anyio
WHEEL = f"{PROJECT}-1.0.0-py3-none-any.whl"
SDIST = f"{PROJECT}-1.0.0.tar.gz"


async def _status(store: SqlStore, release_id: int) -> str:
    async with store.transaction() as tx:
        found = await tx.staged_release(release_id)
    assert found is not None
    return found.status


async def _events(store: SqlStore) -> list[str]:
    async with store.transaction() as tx:
        return [
            e.event for e in await tx.audit_events(project=PROJECT) if e.event.startswith("staged:")
        ]


async def test_approval_with_totp_forwards_every_file_once_and_records_who(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    approvals: Approvals,
    forwarder: FakeForwarder,
    area: FileStagingArea,
    notices: RecordingNotifier,
) -> None:
    people = await team(accounts, store, clock)
    await stage(intake, store, WHEEL, b"wheel" * 1000)
    release = await stage(intake, store, SDIST, b"sdist" * 3000)
    assert [f.filename for f in release.files] == [WHEEL, SDIST]
    assert release.files[0].provenance["workflow_ref"].endswith("release.yml@refs/tags/v1.0.0")
    assert forwarder.sends == 0

    bob = people["bob"]
    approved = await approvals.approve(bob.ctx, release.id, release.digest, bob.proof(clock))

    assert not isinstance(approved, Refusal), approved
    assert (approved.status, approved.decided_by) == ("approved", "bob")
    assert forwarder.received == {WHEEL: b"wheel" * 1000, SDIST: b"sdist" * 3000}
    assert all(f.forwarded_at is not None for f in approved.files)
    assert list(area.root.iterdir()) == []  # published files leave the staging area
    assert await _events(store) == [
        "staged:file", "staged:file", "staged:approving", "staged:approved",
    ]  # fmt: skip
    staged_to = {u for u, e in notices.events() if e == "release-staged"}
    assert staged_to == {"alice", "bob", "carol"}
    assert ("alice", "release-approved") in notices.events()


async def _spent(people: dict[str, Maintainer], accounts: Accounts, clock: Clock) -> Proof:
    # A code already used (here, to sign in a moment ago) cannot also approve.
    bob = people["bob"]
    proof = bob.proof(clock)
    assert not isinstance(await accounts.verify_totp(bob.user.id, proof.code, bob.ctx), Refusal)
    return proof


async def _wrong(people: dict[str, Maintainer], accounts: Accounts, clock: Clock) -> Proof:
    code = people["bob"].proof(clock).code
    return TotpProof(f"{(int(code) + 1) % 1_000_000:06d}")


async def _fresh(people: dict[str, Maintainer], accounts: Accounts, clock: Clock) -> Proof:
    return people["bob"].proof(clock)


async def _none(people: dict[str, Maintainer], accounts: Accounts, clock: Clock) -> None:
    return None


def _same(release: StagedReleaseRecord) -> str:
    return release.digest


HOSTILE: list[
    tuple[str, str, Callable[..., object], Callable[[StagedReleaseRecord], str], int, str]
] = [
    # (id, who, proof, digest sent, clock advance, expected code)
    ("not-a-maintainer", "mallory", _fresh, _same, 0, "no-such-staged-release"),
    ("no-two-factor", "carol", _none, _same, 0, "two-factor-required"),
    ("no-confirmation", "bob", _none, _same, 0, "approval-confirmation-required"),
    ("wrong-code", "bob", _wrong, _same, 0, "invalid-totp"),
    ("spent-code", "bob", _spent, _same, 0, "reused-totp"),
    ("other-files", "bob", _fresh, lambda r: "0" * 64, 0, "staged-release-changed"),
    ("expired", "bob", _fresh, _same, 7 * 86400, "staged-release-expired"),
]


# The checks are the service's, not the database's: SQLite keeps this table fast.
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("who", "proof", "digest", "advance", "code"),
    [h[1:] for h in HOSTILE],
    ids=[h[0] for h in HOSTILE],
)
async def test_refused_approvals_forward_nothing(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    approvals: Approvals,
    forwarder: FakeForwarder,
    who: str,
    proof: Callable[..., object],
    digest: Callable[[StagedReleaseRecord], str],
    advance: int,
    code: str,
) -> None:
    people = await team(accounts, store, clock)
    release = await stage(intake, store)
    clock.advance(advance)
    sent = await proof(people, accounts, clock)  # type: ignore[misc]
    refused = await approvals.approve(people[who].ctx, release.id, digest(release), sent)
    assert isinstance(refused, Refusal)
    assert refused.code == code
    assert forwarder.sends == 0
    assert await _status(store, release.id) == "staged"


async def test_a_staged_file_changed_on_disk_is_refused_and_reported(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    approvals: Approvals,
    forwarder: FakeForwarder,
    area: FileStagingArea,
    notices: RecordingNotifier,
) -> None:
    people = await team(accounts, store, clock)
    release = await stage(intake, store)
    (area.root / release.files[0].storage_key).write_bytes(b"malicious wheel")
    bob = people["bob"]
    refused = await approvals.approve(bob.ctx, release.id, release.digest, bob.proof(clock))
    assert isinstance(refused, Refusal)
    assert refused.code == "staged-files-changed"
    assert forwarder.sends == 0
    assert await _status(store, release.id) == "staged"
    assert "staged:tampered" in await _events(store)
    assert ("alice", "release-tampered") in notices.events()


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_file_changed_while_forwarding_is_cut_off_and_the_release_waits_again(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    area: FileStagingArea,
) -> None:
    people = await team(accounts, store, clock)
    release = await stage(intake, store)
    path = area.root / release.files[0].storage_key

    class Swapping(FakeForwarder):
        async def send(self, staged, chunks):  # type: ignore[no-untyped-def]
            path.write_bytes(b"x" * staged.size)  # same size, other bytes, after the check
            return await super().send(staged, chunks)

    swapping = Swapping()
    approvals = Approvals(accounts.deps, area, swapping, Confirmations(accounts))
    bob = people["bob"]
    refused = await approvals.approve(bob.ctx, release.id, release.digest, bob.proof(clock))
    assert isinstance(refused, Refusal)
    assert refused.code == "staged-files-changed"
    assert swapping.received == {}
    assert await _status(store, release.id) == "staged"


async def test_a_failed_forward_leaves_the_release_waiting_for_another_approval(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    approvals: Approvals,
    forwarder: FakeForwarder,
) -> None:
    people = await team(accounts, store, clock)
    release = await stage(intake, store)
    forwarder.fail = Refusal("forward-failed", "the registry answered 503")
    bob = people["bob"]
    failed = await approvals.approve(bob.ctx, release.id, release.digest, bob.proof(clock))
    assert isinstance(failed, Refusal)
    assert failed.code == "forward-failed"
    assert await _status(store, release.id) == "staged"
    forwarder.fail = None
    clock.advance(totp.STEP)
    approved = await approvals.approve(bob.ctx, release.id, release.digest, bob.proof(clock))
    assert not isinstance(approved, Refusal), approved
    assert list(forwarder.received) == [release.files[0].filename]


async def test_rejecting_discards_the_files_and_nothing_can_approve_them_after(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    approvals: Approvals,
    forwarder: FakeForwarder,
    area: FileStagingArea,
    deps: Deps,
) -> None:
    people = await team(accounts, store, clock)
    release = await stage(intake, store)
    carol = people["carol"]  # deciding needs 2FA on the account, rejecting too
    refused = await reject_staged(deps, area, carol.ctx, release.id, "no")
    assert isinstance(refused, Refusal)
    assert refused.code == "two-factor-required"
    rejected = await reject_staged(deps, area, people["alice"].ctx, release.id, "not ours")
    assert not isinstance(rejected, Refusal), rejected
    assert (rejected.status, rejected.decided_by) == ("rejected", "alice")
    assert list(area.root.iterdir()) == []
    bob = people["bob"]
    late = await approvals.approve(bob.ctx, release.id, release.digest, bob.proof(clock))
    assert isinstance(late, Refusal)
    assert late.code == "staged-release-decided"
    assert forwarder.sends == 0


async def test_sweep_expires_overdue_releases_after_seven_days(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    area: FileStagingArea,
    deps: Deps,
    notices: RecordingNotifier,
) -> None:
    await team(accounts, store, clock)
    release = await stage(intake, store)
    clock.advance(timedelta(days=7).total_seconds() - 1)
    assert await sweep(deps, area) == StagedSweep()
    clock.advance(1)
    [expired] = (await sweep(deps, area)).expired
    assert expired.id == release.id
    assert await _status(store, release.id) == "expired"
    assert list(area.root.iterdir()) == []
    assert ("bob", "release-expired") in notices.events()
    assert "staged:expired" in await _events(store)


async def test_two_maintainers_approving_at_once_forward_once(
    pg_store: SqlStore, clock: Clock, common: frozenset[str], area: FileStagingArea
) -> None:
    # PostgreSQL: two real connections race for the row; the loser's UPDATE waits, then misses.
    accounts = make_accounts(pg_store, clock, common)
    intake = Intake(pg_store, area, clock=clock)
    people = await team(accounts, pg_store, clock)
    release = await stage(intake, pg_store)
    gate = asyncio.Event()
    forwarder = FakeForwarder(gate=gate)
    approvals = Approvals(accounts.deps, area, forwarder, Confirmations(accounts))
    racers = [
        asyncio.create_task(
            approvals.approve(people[n].ctx, release.id, release.digest, people[n].proof(clock))
        )
        for n in ("alice", "bob")
    ]
    done, _ = await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
    [loser] = done
    outcome = loser.result()
    assert isinstance(outcome, Refusal)
    assert outcome.code == "staged-release-decided"
    gate.set()
    results = [await r for r in racers]
    assert [r.status for r in results if not isinstance(r, Refusal)] == ["approved"]
    assert forwarder.sends == 1
