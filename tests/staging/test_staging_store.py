"""The staging tables on SQLite and PostgreSQL: one waiting release per version, decided once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.store import SqlStore
from service.store.base import Duplicate
from service.store.records_staging import ApprovalChallenge

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


async def _project(store: SqlStore) -> int:
    async with store.transaction() as tx:
        return (await tx.add_project("Sample", "sample", NOW)).id


async def _file(store: SqlStore, release_id: int, filename: str) -> None:
    async with store.transaction() as tx:
        await tx.add_staged_file(
            release_id,
            filename=filename,
            size=3,
            sha256="ab" * 32,
            storage_key="0" * 32,
            fields=[("name", "sample"), ("classifiers", "A"), ("classifiers", "B")],
            provenance={"repository": "octo/sample", "run_id": "7"},
            publishers=["github:octo/sample"],
            subject="repo:octo/sample",
            jti="j",
            now=NOW,
        )


async def test_files_of_one_version_gather_in_one_waiting_release(store: SqlStore) -> None:
    project_id = await _project(store)
    opened = []
    for filename in ("sample-1.0.tar.gz", "sample-1.0-py3-none-any.whl"):
        async with store.transaction() as tx:
            release = await tx.open_staged_release(
                project_id, "sample", "1.0", now=NOW, expires_at=NOW + timedelta(days=7)
            )
        opened.append(release.id)
        await _file(store, release.id, filename)
    assert opened[0] == opened[1]
    async with store.transaction() as tx:
        [release] = await tx.staged_releases(["sample"], ("staged",))
        assert not await tx.version_approved(project_id, "1.0")
    assert [f.filename for f in release.files] == [
        "sample-1.0.tar.gz",
        "sample-1.0-py3-none-any.whl",
    ]
    assert release.files[0].fields == (
        ("name", "sample"),
        ("classifiers", "A"),
        ("classifiers", "B"),
    )
    assert release.files[0].provenance == {"repository": "octo/sample", "run_id": "7"}
    assert release.expires_at == NOW + timedelta(days=7)
    with pytest.raises(Duplicate):
        await _file(store, release.id, "sample-1.0.tar.gz")


async def test_a_release_is_decided_once_and_a_decided_version_opens_a_new_one(
    store: SqlStore,
) -> None:
    project_id = await _project(store)
    async with store.transaction() as tx:
        first = await tx.open_staged_release(
            project_id, "sample", "1.0", now=NOW, expires_at=NOW + timedelta(days=1)
        )
        for won in (True, False):
            moved = await tx.move_staged_release(
                first.id, "staged", "approving", approving_since=NOW
            )
            assert moved is won
        claimed = await tx.staged_release(first.id)
        assert claimed is not None
        assert claimed.approving_since == NOW
        assert await tx.move_staged_release(
            first.id, "approving", "approved", at=NOW, by_user_id=None, by="alice"
        )
        assert await tx.version_approved(project_id, "1.0")
        second = await tx.open_staged_release(
            project_id, "sample", "1.0", now=NOW, expires_at=NOW + timedelta(days=1)
        )
        decided = await tx.staged_release(first.id)
    assert second.id != first.id
    assert decided is not None
    assert (decided.status, decided.decided_by, decided.decided_at) == ("approved", "alice", NOW)
    assert decided.approving_since is None  # only a release in `approving` carries one


async def test_an_approval_challenge_is_used_once_and_not_after_it_expires(
    store: SqlStore,
) -> None:
    project_id = await _project(store)
    async with store.transaction() as tx:
        user = await tx.add_user("alice", "a@example.org", "h", NOW)
        release = await tx.open_staged_release(
            project_id, "sample", "1.0", now=NOW, expires_at=NOW + timedelta(days=1)
        )
        for challenge in (b"one", b"two"):
            await tx.add_approval_challenge(
                user.id,
                release.id,
                "d" * 64,
                challenge,
                now=NOW,
                expires_at=NOW + timedelta(minutes=5),
            )
    async with store.transaction() as tx:
        assert await tx.consume_approval_challenge(user.id, b"one", NOW) == ApprovalChallenge(
            release.id, "d" * 64
        )
        assert await tx.consume_approval_challenge(user.id, b"one", NOW) == "unknown"
        assert await tx.consume_approval_challenge(user.id + 1, b"two", NOW) == "unknown"
        later = NOW + timedelta(minutes=5)
        assert await tx.consume_approval_challenge(user.id, b"two", later) == "expired"
