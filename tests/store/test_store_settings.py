"""MINTGATE_DATABASE_URL and the account settings, parsed once and named when wrong."""

from __future__ import annotations

import pytest

from service.settings import DEFAULT_DATABASE_URL, Settings, SettingsError


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("sqlite:///./x.sqlite3", "sqlite+aiosqlite:///./x.sqlite3"),
        ("sqlite+aiosqlite:////var/lib/mg.db", "sqlite+aiosqlite:////var/lib/mg.db"),
        ("postgresql://mg@db/mintgate", "postgresql+asyncpg://mg@db/mintgate"),
        ("postgres://mg@db/mintgate", "postgresql+asyncpg://mg@db/mintgate"),
        ("postgresql+asyncpg://mg@db/mintgate", "postgresql+asyncpg://mg@db/mintgate"),
    ],
)
def test_database_urls_name_the_async_driver(raw: str, parsed: str) -> None:
    assert Settings.from_env({"MINTGATE_DATABASE_URL": raw}).database_url == parsed


@pytest.mark.parametrize(
    "raw",
    ["mysql://u:s3cr3tpw@db/x", "sqlite://", "sqlite:///", "postgresql+psycopg2://u:s3cr3tpw@db/x"],
)
def test_other_databases_stop_start_up_without_echoing_the_url(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^MINTGATE_DATABASE_URL: ") as caught:
        Settings.from_env({"MINTGATE_DATABASE_URL": raw})
    assert "s3cr3tpw" not in str(caught.value)


def test_account_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite+aiosqlite:///./mintgate.sqlite3"
    assert settings.pwned_passwords_url == "https://api.pwnedpasswords.com"
    assert settings.common_passwords_file.name == "common-passwords.txt"
    assert settings.secret_key_file is None


def test_breach_api_can_be_switched_off_or_moved() -> None:
    off = Settings.from_env({"MINTGATE_PWNED_PASSWORDS_URL": "off"})
    assert off.pwned_passwords_url is None
    moved = Settings.from_env({"MINTGATE_PWNED_PASSWORDS_URL": "https://pwned.internal"})
    assert moved.pwned_passwords_url == "https://pwned.internal"
    with pytest.raises(SettingsError, match="MINTGATE_PWNED_PASSWORDS_URL"):
        Settings.from_env({"MINTGATE_PWNED_PASSWORDS_URL": "ftp://x"})


def test_secret_key_file_must_exist() -> None:
    with pytest.raises(SettingsError, match="MINTGATE_SECRET_KEY_FILE: no such file"):
        Settings.from_env({"MINTGATE_SECRET_KEY_FILE": "/nonexistent/secret.key"})
