"""MINTGATE_GATEWAY_* settings: defaults, and a bad value names its variable, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.apitokens.keys import generate_pem as generate_api_pem
from service.apitokens.keys import load_root_key
from service.gateway import GatewaySettings
from service.settings import SettingsError

REQUIRED = {
    "MINTGATE_GATEWAY_BACKEND_URL": "http://127.0.0.1:8080/",
    "MINTGATE_GATEWAY_MINTGATE_URL": "https://mintgate.example",
}


def test_defaults() -> None:
    settings = GatewaySettings.from_env(REQUIRED)
    assert settings.backend_url == "http://127.0.0.1:8080/"
    assert settings.token_audience == "mintgate-upload"
    assert settings.max_upload_bytes == 100 * 1024 * 1024
    assert settings.backend_username is None
    assert settings.allow_loopback_http is False
    assert settings.redis_url is None


def test_password_from_file_is_not_in_the_repr(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-from-file\n")
    settings = GatewaySettings.from_env(
        {
            **REQUIRED,
            "MINTGATE_GATEWAY_BACKEND_USERNAME": "gateway",
            "MINTGATE_GATEWAY_BACKEND_PASSWORD_FILE": str(secret),
            "MINTGATE_GATEWAY_MAX_UPLOAD_BYTES": "1048576",
        }
    )
    assert settings.backend_password == "s3cret-from-file"
    assert "s3cret" not in repr(settings)
    assert settings.max_upload_bytes == 1024 * 1024


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param(
            {"MINTGATE_GATEWAY_BACKEND_URL": ""}, "BACKEND_URL is required", id="no-backend"
        ),
        pytest.param(
            {"MINTGATE_GATEWAY_MINTGATE_URL": ""}, "MINTGATE_URL is required", id="no-mintgate"
        ),
        pytest.param(
            {"MINTGATE_GATEWAY_BACKEND_URL": "ftp://x/"}, "BACKEND_URL", id="backend-not-http"
        ),
        pytest.param(
            {"MINTGATE_GATEWAY_BACKEND_URL": "https://user:hunter2@registry.example/"},
            "BACKEND_USERNAME/_PASSWORD",
            id="credentials-in-url",
        ),
        pytest.param(
            {"MINTGATE_GATEWAY_MINTGATE_URL": "https://mintgate.example/"},
            "MINTGATE_GATEWAY_MINTGATE_URL",
            id="issuer-trailing-slash",
        ),
        pytest.param({"MINTGATE_GATEWAY_PORT": "http"}, "MINTGATE_GATEWAY_PORT", id="port"),
        pytest.param(
            {"MINTGATE_GATEWAY_MAX_UPLOAD_BYTES": "100MB"},
            "MINTGATE_GATEWAY_MAX_UPLOAD_BYTES",
            id="size-with-unit",
        ),
        pytest.param(
            {"MINTGATE_GATEWAY_ALLOW_LOOPBACK_HTTP": "maybe"},
            "MINTGATE_GATEWAY_ALLOW_LOOPBACK_HTTP",
            id="bool",
        ),
        pytest.param(
            {"MINTGATE_GATEWAY_REDIS_URL": "127.0.0.1:6379"},
            "MINTGATE_GATEWAY_REDIS_URL",
            id="redis-url",
        ),
        pytest.param(
            {"MINTGATE_GATEWAY_BACKEND_USERNAME": "gateway"},
            "must be set together",
            id="username-without-password",
        ),
        pytest.param(
            {
                "MINTGATE_GATEWAY_BACKEND_USERNAME": "gateway",
                "MINTGATE_GATEWAY_BACKEND_PASSWORD": "hunter2",
                "MINTGATE_GATEWAY_BACKEND_PASSWORD_FILE": "/etc/hostname",
            },
            "are exclusive",
            id="password-twice",
        ),
        pytest.param(
            {
                "MINTGATE_GATEWAY_BACKEND_USERNAME": "gateway",
                "MINTGATE_GATEWAY_BACKEND_PASSWORD_FILE": "/nonexistent/password",
            },
            "MINTGATE_GATEWAY_BACKEND_PASSWORD_FILE: cannot read",
            id="password-file-missing",
        ),
    ],
)
def test_bad_variable_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named) as raised:
        GatewaySettings.from_env({**REQUIRED, **env})
    assert "hunter2" not in str(raised.value)


def test_api_token_key_file_gives_its_public_half(tmp_path: Path) -> None:
    key = tmp_path / "api-token.pem"
    key.write_bytes(generate_api_pem())
    env = {
        **REQUIRED,
        "MINTGATE_GATEWAY_API_TOKEN_KEY_FILE": str(key),
        "MINTGATE_GATEWAY_DATABASE_URL": "postgresql://mintgate@db.example/mintgate",
    }
    settings = GatewaySettings.from_env(env)
    assert settings.api_token_public_key == load_root_key(key).public_text
    assert "PRIVATE" not in repr(settings)

    both = {**env, "MINTGATE_GATEWAY_API_TOKEN_PUBLIC_KEY": load_root_key(key).public_text}
    with pytest.raises(SettingsError, match="are exclusive"):
        GatewaySettings.from_env(both)
    key.write_text("not a key")
    with pytest.raises(SettingsError, match=r"MINTGATE_GATEWAY_API_TOKEN_KEY_FILE: .*not an"):
        GatewaySettings.from_env(env)
