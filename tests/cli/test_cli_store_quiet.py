"""Commands that open the store print what they did, not Alembic's narration of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from clikit import mintgate

from service.store import migrate


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        pytest.param(("audit", "--user", "nobody"), 1, "no user 'nobody'", id="audit"),
        pytest.param(("db", "sweep"), 0, "mintgate: swept 0 sessions", id="db-sweep"),
        pytest.param(("token", "list", "--user", "nobody"), 1, "nobody", id="token-list"),
    ],
)
def test_opening_a_fresh_store_prints_no_migration_log(
    tmp_path: Path, argv: tuple[str, ...], code: int, said: str
) -> None:
    # A fresh SQLite file: the store migrates it on first use, which is when Alembic talks.
    env = {"MINTGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}

    ran = mintgate(*argv, cwd=tmp_path, env=env)

    assert ran.code == code, ran.stderr
    assert said in ran.stdout + ran.stderr
    assert "alembic" not in ran.stderr
    assert " INFO " not in ran.stderr
    assert (tmp_path / "fresh.sqlite3").exists()  # the store was opened and migrated


def test_db_upgrade_says_what_it_migrated_in_its_own_words(tmp_path: Path) -> None:
    env = {"MINTGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}"}

    first = mintgate("db", "upgrade", cwd=tmp_path, env=env)
    again = mintgate("db", "upgrade", cwd=tmp_path, env=env)

    head = migrate.head()
    assert first.code == 0, first.stderr
    assert "migrated from revision none" in first.stdout
    assert first.stdout.strip().endswith(f"is at revision {head}")
    assert "alembic" not in first.stderr
    assert "migrated" not in again.stdout  # nothing to do, and it says only where it is
    assert again.stdout.strip().endswith(f"is at revision {head}")
