"""`mintgate user create` end to end on the embedded SQLite default."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from accounts_helpers import PASSWORD

from service.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The default database is ./mintgate.sqlite3: run where it may be created.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MINTGATE_DATABASE_URL", raising=False)
    monkeypatch.setenv("MINTGATE_PWNED_PASSWORDS_URL", "off")
    return tmp_path


def _create(monkeypatch: pytest.MonkeyPatch, username: str, password: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    return main(["user", "create", username, "--email", "a@example.org", "--password-stdin"])


def test_user_create_makes_the_database_and_the_user(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _create(monkeypatch, "Alice", PASSWORD) == 0
    assert (workdir / "mintgate.sqlite3").exists()
    out = capsys.readouterr()
    assert "created user Alice (id 1)" in out.out
    assert _create(monkeypatch, "alice", PASSWORD + " 2") == 1
    assert "'alice' is taken (username-taken)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("password", "code"), [("pw7x", "password-too-short"), ("football", "password-common")]
)
def test_user_create_refuses_a_weak_password_without_echoing_it(
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    password: str,
    code: str,
) -> None:
    assert _create(monkeypatch, "bob", password) == 1
    captured = capsys.readouterr()
    assert f"({code})" in captured.err
    assert password not in captured.out + captured.err
