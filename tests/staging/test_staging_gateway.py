"""The gateway stages minted-token uploads of projects that ask for it, and fails closed.

The registry (respx) must receive nothing for a staged upload; twine gets a 200
that says where to approve.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from accounts.accounts_helpers import RecordingNotifier
from fakeissuer import Clock
from gateway.gatewaykit import PROJECT, mint, upload, wheel
from stagingkit import KEYS, gateway, team

from service.accounts.accounts import Accounts
from service.store import SqlStore, StoreError

pytestmark = pytest.mark.anyio


class DownStore:
    def transaction(self):  # type: ignore[no-untyped-def]
        raise StoreError("database unreachable")

    async def close(self) -> None:
        pass


async def test_a_staged_upload_reaches_the_staging_area_and_not_the_registry(
    accounts: Accounts, store: SqlStore, clock: Clock, tmp_path: Path, notices: RecordingNotifier
) -> None:
    await team(accounts, store, clock)
    filename, data = wheel(PROJECT, "1.0.0")
    async with gateway(store, tmp_path / "staging", clock, notices) as (client, backend):
        answer = await upload(client, mint(KEYS), file=(filename, data))
        assert answer.status_code == 200, answer.text
        assert backend.call_count == 0
        # Once more, the same file: refused, and still nothing reaches the registry.
        again = await upload(client, mint(KEYS), file=(filename, data))
        assert again.status_code == 400
        assert "already staged" in again.text
        # Another project, without staging: forwarded as ever.
        other = await upload(client, mint(KEYS, projects=("otherproject",)), project="otherproject")
        assert other.status_code == 200
        assert backend.call_count == 1
    assert answer.text.startswith(f"Staged, not published: {PROJECT} 1.0.0 ({filename},")
    assert "https://mintgate.example/web/staged/1" in answer.text
    async with store.transaction() as tx:
        [release] = await tx.staged_releases([PROJECT], ("staged",))
    [staged] = release.files
    assert staged.sha256 in answer.text
    assert (tmp_path / "staging" / staged.storage_key).read_bytes() == data
    assert dict(staged.fields)["version"] == "1.0.0"
    assert ("bob", "release-staged") in notices.events()


async def test_without_the_database_a_minted_upload_is_refused_not_published(
    clock: Clock, tmp_path: Path
) -> None:
    async with gateway(DownStore(), tmp_path / "staging", clock, RecordingNotifier()) as (
        client,
        backend,
    ):
        answer = await upload(client, mint(KEYS))
    assert answer.status_code == 503
    assert backend.call_count == 0
    assert not (tmp_path / "staging").exists() or not list((tmp_path / "staging").iterdir())
