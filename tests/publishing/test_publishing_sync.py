"""`mintgate publishers sync FILE`: the database's seeded publishers follow the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from accounts.accounts_helpers import CTX, ctx_for
from publishingkit import DATA, owner_of, table

from service.accounts.accounts import Accounts
from service.accounts.core import Deps
from service.accounts.publisher_sync import sync_publishers
from service.accounts.publishing import add_publisher
from service.cli import main
from service.issuers import Issuers
from service.store import SqlStore
from service.trust.toml import TrustConfigError

pytestmark = pytest.mark.anyio

SEED = """
[[project.sampleproject.publisher]]
provider = "github"
repository = "octo-org/sampleproject"
repository_owner_id = "1234567"
repository_id = "99999"
workflow = "release.yml"
environment = "pypi"

[[project.Second_Project.publisher]]
provider = "gitlab"
namespace = "octo-group"
project = "second"
ci_config_file = ".gitlab-ci.yml"
"""


async def test_sync_reports_added_removed_unchanged_and_keeps_owners_publishers(
    accounts: Accounts, store: SqlStore, deps: Deps, issuers: Issuers, tmp_path: Path
) -> None:
    alice = await owner_of(accounts, "sampleproject")
    own = await add_publisher(
        deps, ctx_for(alice), issuers, "sampleproject", table(workflow="own.yml")
    )
    path = tmp_path / "publishers.toml"
    path.write_text(SEED)

    first = await sync_publishers(deps, CTX, issuers, path)
    assert [p for p, _ in first.added] == ["sampleproject", "second-project"]
    assert first.removed == []
    assert first.unchanged == []
    assert first.created_projects == ["second-project"]

    path.write_text(SEED.split("[[project.Second_Project")[0])
    second = await sync_publishers(deps, CTX, issuers, path)
    assert second.added == []
    assert [p for p, _ in second.removed] == ["second-project"]
    assert [p for p, _ in second.unchanged] == ["sampleproject"]

    async with store.transaction() as tx:
        project = await tx.project_by_name("sampleproject")
        assert project is not None
        kept = await tx.publishers_of(project.id)
        events = [e.event for e in await tx.audit_events(project="second-project")]
    assert not isinstance(own, Exception)
    assert sorted(p.source for p in kept) == ["api", "sync"]
    assert events == ["project:created", "publisher:added", "publisher:removed"]


async def test_a_bad_file_changes_nothing_and_names_the_key(
    deps: Deps, store: SqlStore, issuers: Issuers, tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(SEED.replace('workflow = "release.yml"', 'workflow = "a/b.yml"'))
    with pytest.raises(TrustConfigError, match="workflow"):
        await sync_publishers(deps, CTX, issuers, path)
    async with store.transaction() as tx:
        assert await tx.projects() == []


@pytest.fixture
def seed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SEED in a file, and the CLI's environment: its own SQLite file, the test issuers."""
    monkeypatch.setenv("MINTGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("MINTGATE_ISSUERS_FILE", str(DATA / "issuers.toml"))
    path = tmp_path / "publishers.toml"
    path.write_text(SEED)
    return path


def test_the_command_prints_what_changed(
    seed_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = seed_file
    assert main(["publishers", "sync", str(path)]) == 0
    out = capsys.readouterr().out
    assert "+ sampleproject  github:octo-org/sampleproject:release.yml:env=pypi" in out
    assert "2 added, 0 removed, 0 unchanged (2 projects created)" in out
    assert main(["publishers", "sync", str(path)]) == 0
    assert "0 added, 0 removed, 2 unchanged" in capsys.readouterr().out
    assert main(["token", "list", "--user", "nobody"]) == 1


def test_a_dry_run_prints_the_diff_and_changes_nothing(
    seed_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = seed_file
    assert main(["publishers", "sync", "--dry-run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "+ sampleproject  github:octo-org/sampleproject:release.yml:env=pypi" in out
    assert "2 added, 0 removed, 0 unchanged (2 projects created)" in out
    assert "dry run: nothing was changed" in out
    # Nothing was written: the real run still has everything to add.
    assert main(["publishers", "sync", str(path)]) == 0
    assert "2 added, 0 removed, 0 unchanged" in capsys.readouterr().out
    path.write_text(SEED.split("[[project.Second_Project")[0])
    assert main(["publishers", "sync", "--dry-run", str(path)]) == 0
    assert "0 added, 1 removed, 1 unchanged" in capsys.readouterr().out
    assert main(["publishers", "sync", "--dry-run", str(path)]) == 0
    assert "0 added, 1 removed, 1 unchanged" in capsys.readouterr().out
