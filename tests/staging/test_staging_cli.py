"""`mintgate staged list | reject | sweep` against the configured database and staging directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fakeissuer import Clock
from stagingkit import PROVENANCE, chunks_of, stage, team
from store.store_fixtures import Database

from service.accounts.accounts import Accounts
from service.cli import main
from service.staging.area import FileStagingArea
from service.staging.intake import Intake
from service.store import SqlStore

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("database", ["sqlite"], indirect=True)]


async def test_list_shows_what_waits_and_reject_discards_it(
    accounts: Accounts,
    store: SqlStore,
    clock: Clock,
    intake: Intake,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await team(accounts, store, clock)
    release = await stage(intake, store)
    monkeypatch.setenv("MINTGATE_DATABASE_URL", database.url)
    monkeypatch.setenv("MINTGATE_STAGING_DIR", str(intake.area.root))  # type: ignore[attr-defined]
    monkeypatch.setenv("MINTGATE_STAGING_BACKEND_URL", "https://registry.example/legacy/")

    assert await _cli(["staged", "list"]) == 0
    listed = capsys.readouterr().out
    assert f"#{release.id} sampleproject 1.0.0 staged" in listed
    assert f"digest {release.digest}" in listed
    assert f"sha256 {release.files[0].sha256}" in listed
    assert f"run_id={PROVENANCE['run_id']}" in listed

    assert await _cli(["staged", "reject", str(release.id), "--reason", "ticket 7"]) == 0
    assert "rejected" in capsys.readouterr().out
    assert list(intake.area.root.iterdir()) == []  # type: ignore[attr-defined]
    assert await _cli(["staged", "reject", str(release.id), "--reason", "again"]) == 1
    assert "(staged-release-decided)" in capsys.readouterr().err
    assert await _cli(["staged", "sweep"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "mintgate: 0 staged release(s) expired",
        "mintgate: 0 stalled approval(s) put back to waiting",
        "mintgate: 0 orphaned file(s) removed from the staging area",
    ]
    assert await _cli(["staged", "list"]) == 0
    assert "no staged releases" in capsys.readouterr().out


async def test_sweep_reports_the_orphaned_files_it_removed(
    database: Database, intake: Intake, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    area: FileStagingArea = intake.area  # type: ignore[assignment]
    stored = await area.put(chunks_of(b"an upload whose process died before recording it"))
    # The command reads the real clock: a fixed date long past is older than any bound.
    os.utime(area.root / stored.key, (1_000_000_000, 1_000_000_000))
    monkeypatch.setenv("MINTGATE_DATABASE_URL", database.url)
    monkeypatch.setenv("MINTGATE_STAGING_DIR", str(area.root))
    monkeypatch.setenv("MINTGATE_STAGING_BACKEND_URL", "https://registry.example/legacy/")

    assert await _cli(["staged", "sweep"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "mintgate: 1 orphaned file(s) removed from the staging area"
    )
    assert list(area.root.iterdir()) == []


async def _cli(argv: list[str]) -> int:
    # The command runs its own event loop (asyncio.run): give it a thread of its own.
    from anyio import to_thread

    return await to_thread.run_sync(main, argv)
