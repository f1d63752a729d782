"""The operator's incident commands: project state, freeze (Redis required), revoke-minted."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from publishingkit import table
from testredis import REDIS_URL

from service.cli import main
from service.issuers import Issuers
from service.store import open_store
from service.trust.tables import publisher_spec

pytestmark = pytest.mark.anyio


async def seeded(tmp_path: Path, issuers: Issuers) -> tuple[str, int]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}"
    store = await open_store(url)
    try:
        async with store.transaction() as tx:
            now = datetime.now(UTC)
            project = await tx.add_project("sampleproject", "sampleproject", now)
            _, spec = publisher_spec(table(), issuers)
            added = await tx.add_publisher(project.id, spec, source="api", created_by=None, now=now)
    finally:
        await store.close()
    return url, added.id


async def test_operator_freezes_changes_state_and_revokes(
    tmp_path: Path,
    issuers: Issuers,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, publisher_id = await seeded(tmp_path, issuers)
    monkeypatch.setenv("MINTGATE_DATABASE_URL", url)
    monkeypatch.setenv(
        "MINTGATE_ISSUERS_FILE", str(Path(__file__).parent.parent / "data" / "issuers.toml")
    )
    monkeypatch.delenv("MINTGATE_REDIS_URL", raising=False)
    assert await _run(["publishers", "freeze", str(publisher_id)]) == 2
    assert "MINTGATE_REDIS_URL" in capsys.readouterr().err
    monkeypatch.setenv("MINTGATE_REDIS_URL", REDIS_URL)
    assert await _run(["publishers", "freeze", str(publisher_id)]) == 0
    assert "frozen; 0 tokens revoked" in capsys.readouterr().out
    assert await _run(["publishers", "unfreeze", str(publisher_id)]) == 0
    assert await _run(["token", "revoke-minted", "--repository", "octo-org/sampleproject"]) == 0
    assert "0 minted tokens revoked" in capsys.readouterr().out
    assert await _run(["token", "revoke-minted"]) == 2
    assert await _run(["project", "state", "sampleproject", "archived"]) == 0
    assert "state: archived" in capsys.readouterr().out


async def _run(argv: list[str]) -> int:
    # The commands run their own event loop: off this test's loop, in a thread.
    import anyio.to_thread

    return await anyio.to_thread.run_sync(main, argv)
