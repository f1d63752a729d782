"""One origin: `mintgate serve` with a backend index also takes twine's uploads at /legacy/.

A workflow sets one `repository-url`; the pypa action's flow (audience, mint-token, twine
with `__token__`) runs against that one process, which forwards to a real pypiserver.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakeissuer import FakeIssuer
from gatewaykit import PROJECT, write_wheel
from pypaflow import (
    exchange,
    github_issuers,
    pip_download,
    pypiserver,
    twine_upload,
    write_htpasswd,
)
from servers import (
    LOOPBACK,
    SAMPLE_PUBLISHERS,
    Request,
    free_port,
    json_server,
    mintgate_serve,
    serving,
)

from service.envparse import SettingsError
from service.settings import Settings


@dataclass(frozen=True)
class Origin:
    url: str
    index: str
    packages: Path


@pytest.fixture
def origin(tmp_path: Path, github: FakeIssuer) -> Iterator[Origin]:
    def jwks(request: Request) -> tuple[int, object]:
        return (200, github.jwks()) if request.path == "/jwks" else (404, {})

    packages, logs = tmp_path / "packages", tmp_path / "logs"
    packages.mkdir()
    logs.mkdir()
    htpasswd, password = tmp_path / "htpasswd", secrets.token_urlsafe(16)
    write_htpasswd(htpasswd, "gateway", password)
    (tmp_path / "gateway-password").write_text(password + "\n")
    (tmp_path / "publishers.toml").write_text(SAMPLE_PUBLISHERS)
    index_port = free_port()
    index = f"http://{LOOPBACK}:{index_port}"
    with json_server(jwks) as github_jwks:
        (tmp_path / "issuers.toml").write_text(github_issuers(f"{github_jwks.url}/jwks"))
        env = {
            "MINTGATE_ISSUERS_FILE": str(tmp_path / "issuers.toml"),
            "MINTGATE_PUBLISHERS_FILE": str(tmp_path / "publishers.toml"),
            "MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP": "1",
            "MINTGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'mintgate.sqlite3'}",
            # Only these make it one origin: the gateway's own variables, no gateway process.
            "MINTGATE_GATEWAY_BACKEND_URL": f"{index}/",
            "MINTGATE_GATEWAY_BACKEND_USERNAME": "gateway",
            "MINTGATE_GATEWAY_BACKEND_PASSWORD_FILE": str(tmp_path / "gateway-password"),
        }
        with (
            serving(
                pypiserver(index_port, htpasswd, packages),
                {},
                ready=f"{index}/health",
                log=logs / "pypiserver.log",
            ),
            mintgate_serve(env, log=logs / "mintgate.log") as url,
        ):
            yield Origin(url, index, packages)


def test_one_repository_url_mints_and_uploads(
    origin: Origin, github: FakeIssuer, tmp_path: Path
) -> None:
    repository_url = f"{origin.url}/legacy/"
    token = exchange(repository_url, github)
    other = write_wheel(tmp_path / "other", "otherproject", "1.0.0")
    refused = twine_upload(repository_url, token, other)
    assert refused.returncode != 0
    assert "token is not valid for project 'otherproject'" in refused.stdout + refused.stderr
    assert list(origin.packages.iterdir()) == []

    good = write_wheel(tmp_path / "dist", PROJECT, "1.0.0")
    uploaded = twine_upload(repository_url, token, good)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    fetched = pip_download(origin.index, f"{PROJECT}==1.0.0", tmp_path / "download")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert (tmp_path / "download" / good.name).read_bytes() == good.read_bytes()


BACKEND = {"MINTGATE_GATEWAY_BACKEND_URL": "http://127.0.0.1:9/legacy/"}


def test_without_a_backend_index_there_is_no_upload_endpoint() -> None:
    assert Settings.from_env({}).gateway is None


def test_the_embedded_gateway_checks_the_services_own_tokens() -> None:
    settings = Settings.from_env({**BACKEND, "MINTGATE_URL": "https://pypi.example.org"})
    assert settings.gateway is not None
    assert settings.gateway.mintgate_url == "https://pypi.example.org"
    assert settings.gateway.token_audience == settings.token_audience


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MINTGATE_GATEWAY_MINTGATE_URL", "https://other.example.org"),
        ("MINTGATE_GATEWAY_TOKEN_AUDIENCE", "elsewhere"),
        ("MINTGATE_GATEWAY_REDIS_URL", "redis://127.0.0.1:6379/3"),
        ("MINTGATE_GATEWAY_DATABASE_URL", "postgresql+asyncpg://db.example/other"),
    ],
    ids=["issuer", "audience", "redis", "database"],
)
def test_a_second_state_for_the_embedded_gateway_stops_start_up(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({**BACKEND, variable: value})


def test_the_services_own_values_may_be_repeated() -> None:
    database = "postgresql://mintgate@db.example/mintgate"
    env = {
        **BACKEND,
        "MINTGATE_URL": "https://pypi.example.org",
        "MINTGATE_DATABASE_URL": database,
        "MINTGATE_GATEWAY_MINTGATE_URL": "https://pypi.example.org",
        "MINTGATE_GATEWAY_DATABASE_URL": database,  # normalised the same way on both sides
        "MINTGATE_GATEWAY_STAGING_DIR": "/srv/staging",
    }
    settings = Settings.from_env(env)
    assert settings.gateway is not None
    assert settings.gateway.database_url == settings.database_url


def test_staging_or_api_tokens_use_the_services_database() -> None:
    settings = Settings.from_env({**BACKEND, "MINTGATE_GATEWAY_STAGING_DIR": "/srv/staging"})
    assert settings.gateway is not None
    assert settings.gateway.database_url == settings.database_url
