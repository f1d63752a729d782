"""The OAuth clients file: validated at start-up, errors naming file, table and key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from service.oauth.clients import ClientConfigError, OAuthClients, basic_credentials, load_clients
from service.settings import CONFIG_DIR, Settings

DIGEST = hashlib.sha256(b"secret").hexdigest()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clients.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_file_loads() -> None:
    clients = load_clients(CONFIG_DIR / "oauth_clients.example.toml")
    assert len(clients) == 2


def test_variable_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    settings = Settings.from_env({"MINTGATE_OAUTH_CLIENTS_FILE": str(path)})
    assert settings.oauth_clients_file == path
    assert Settings.from_env({}).oauth_clients_file is None
    with pytest.raises(ValueError, match="MINTGATE_OAUTH_CLIENTS_FILE: no such file"):
        Settings.from_env({"MINTGATE_OAUTH_CLIENTS_FILE": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("[[client]\n", "clients.toml", id="not-toml"),
        pytest.param("[other]\n", "expected only [[client]] tables", id="other-table"),
        pytest.param(
            f'[[client]]\nid = "a"\nsecret = "plain"\nsecret_sha256 = "{DIGEST}"\n'
            'scopes = ["revoke"]\n',
            "[[client]] #1: unknown key 'secret'",
            id="plaintext-secret",
        ),
        pytest.param(
            f'[[client]]\nsecret_sha256 = "{DIGEST}"\nscopes = ["revoke"]\n',
            "#1: id must be",
            id="no-id",
        ),
        pytest.param(
            '[[client]]\nid = "a"\nsecret_sha256 = "abc"\nscopes = ["revoke"]\n',
            "#1: secret_sha256 must be 64 hex digits",
            id="short-digest",
        ),
        pytest.param(
            f'[[client]]\nid = "a"\nsecret_sha256 = "{"z" * 64}"\nscopes = ["revoke"]\n',
            "#1: secret_sha256 must be 64 hex digits",
            id="not-hex",
        ),
        pytest.param(
            f'[[client]]\nid = "a"\nsecret_sha256 = "{DIGEST}"\nscopes = ["admin"]\n',
            "#1: scopes must be",
            id="unknown-scope",
        ),
        pytest.param(
            f'[[client]]\nid = "a"\nsecret_sha256 = "{DIGEST}"\nscopes = []\n',
            "#1: scopes must be",
            id="no-scopes",
        ),
        pytest.param(
            f'[[client]]\nid = "a"\nsecret_sha256 = "{DIGEST}"\nscopes = [["revoke"]]\n',
            "#1: scopes must be",
            id="nested-scopes",
        ),
        pytest.param(
            f'[[client]]\nid = "a"\nsecret_sha256 = "{DIGEST}"\nscopes = ["revoke"]\n'
            f'[[client]]\nid = "a"\nsecret_sha256 = "{DIGEST}"\nscopes = ["introspect"]\n',
            "#2: id 'a' is configured twice",
            id="duplicate-id",
        ),
    ],
)
def test_bad_clients_file_stops_start_up(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ClientConfigError) as raised:
        load_clients(write(tmp_path, text))
    assert message in str(raised.value)
    assert str(tmp_path) in str(raised.value)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("Basic YTpi", ("a", "b"), id="plain"),
        pytest.param("basic YTpi", ("a", "b"), id="scheme-case"),
        pytest.param("Basic YTpiOmM=", ("a", "b:c"), id="colon-in-secret"),
        pytest.param("Basic YSUzQWI6Yw==", ("a:b", "c"), id="encoded-colon-in-id"),
        pytest.param(None, None, id="missing"),
        pytest.param("Basic", None, id="empty"),
        pytest.param("Basic YQ==", None, id="no-colon"),
        pytest.param("Basic OmI=", None, id="empty-id"),
        pytest.param("Basic /w==", None, id="not-utf8"),
        pytest.param("Basic " + "A" * 2000, None, id="oversized"),
        pytest.param("Digest YTpi", None, id="other-scheme"),
    ],
)
def test_basic_credentials(header: str | None, expected: tuple[str, str] | None) -> None:
    assert basic_credentials(header) == expected


def test_no_clients_authenticates_nobody() -> None:
    assert OAuthClients().authenticate("Basic YTpi") is None
