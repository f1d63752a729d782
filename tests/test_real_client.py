"""End to end on loopback: `mintgate serve` as a real process, real clients talking to it.

The `id` package fetches a GitHub Actions credential from a fake runner, the service
fetches the issuer's keys from a real JWKS server, and a registry verifies what was
minted by fetching the service's own JWKS. No transport is mocked here.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fakeissuer import FakeIssuer, github_claims
from id import detect_credential
from servers import (
    SAMPLE_PUBLISHERS,
    JsonServer,
    Request,
    free_port,
    json_server,
    mintgate_cli,
    mintgate_serve,
)

from service.minting.keys import load_signing_keys
from service.minting.tokens import PREFIX, unwrap
from service.publishers.base import Refusal
from service.verifier import VerifiedToken, Verifier, registry_verifier


@pytest.fixture
def issuer_jwks(github: FakeIssuer) -> Iterator[JsonServer]:
    """GitHub's JWKS, served over real HTTP on loopback."""

    def handle(request: Request) -> tuple[int, object]:
        return (200, github.jwks()) if request.path == "/jwks" else (404, {})

    with json_server(handle) as server:
        yield server


@pytest.fixture
def config_env(tmp_path: Path, issuer_jwks: JsonServer) -> dict[str, str]:
    issuers = tmp_path / "issuers.toml"
    issuers.write_text(
        "[[issuer]]\n"
        'url = "https://token.actions.githubusercontent.com"\n'
        'provider = "github"\n'
        f'jwks_uri = "{issuer_jwks.url}/jwks"\n'
        'jwks_hosts = ["127.0.0.1"]\n'
    )
    publishers = tmp_path / "publishers.toml"
    publishers.write_text(SAMPLE_PUBLISHERS)
    return {
        "MINTGATE_ISSUERS_FILE": str(issuers),
        "MINTGATE_PUBLISHERS_FILE": str(publishers),
        "MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP": "1",
    }


def keygen(path: Path) -> Path:
    result = mintgate_cli("keygen", str(path), env={})
    assert result.returncode == 0, result.stderr
    assert path.stat().st_mode & 0o077 == 0  # a private key readable by others is a leak
    return path


def github_token(github: FakeIssuer) -> str:
    # The service runs on the wall clock, so the credential must too.
    return github.sign(github_claims(now=int(time.time())))


async def mint(url: str, oidc_token: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(f"{url}/_/oidc/mint-token", json={"token": oidc_token})


async def mint_ok(url: str, oidc_token: str) -> str:
    response = await mint(url, oidc_token)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    assert token.startswith(PREFIX)
    return token


@asynccontextmanager
async def registry(url: str) -> AsyncIterator[Verifier]:
    """A registry with a cold key cache: it must fetch the JWKS from whatever runs at `url`."""
    async with httpx.AsyncClient() as client:
        yield registry_verifier(url, "mintgate-upload", client, allow_loopback_http=True)


def kid(token: str) -> str:
    inner = unwrap(token)
    assert inner is not None
    value: str = jwt.get_unverified_header(inner)["kid"]
    return value


def active_kid(key_file: Path) -> str:
    return load_signing_keys([key_file]).active.kid


@pytest.mark.anyio
async def test_id_package_github_detection_exchanges_and_verifies(
    tmp_path: Path,
    config_env: dict[str, str],
    issuer_jwks: JsonServer,
    github: FakeIssuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    request_token = secrets.token_urlsafe(24)

    def runner(request: Request) -> tuple[int, object]:
        # What the Actions runtime checks before it hands out an OIDC token.
        if request.headers.get("authorization") != f"bearer {request_token}":
            return 401, {"message": "bad request token"}
        audience = request.query.get("audience", [])
        if len(audience) != 1:
            return 400, {"message": "audience is required"}
        claims = github_claims(now=int(time.time()), aud=audience[0])
        return 200, {"value": github.sign(claims)}

    env = {**config_env, "MINTGATE_SIGNING_KEY_FILES": str(keygen(tmp_path / "key.pem"))}
    with json_server(runner) as actions, mintgate_serve(env, log=tmp_path / "serve.log") as url:
        monkeypatch.setenv("GITHUB_ACTIONS", "true")
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token)
        # The runner hands out a URL that already has a query: `audience` must be added to it.
        monkeypatch.setenv(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            f"{actions.url}/_apis/pipelines/workflows/1/idtoken?api-version=2.0",
        )
        async with httpx.AsyncClient() as client:
            audience = (await client.get(f"{url}/_/oidc/audience")).json()["audience"]
        credential = await anyio.to_thread.run_sync(detect_credential, audience)
        assert credential is not None

        token = await mint_ok(url, credential)
        replayed = await mint(url, credential)
        async with registry(url) as verifier:
            verified = await verifier.verify(token, "sampleproject")
            refused = await verifier.verify(token, "another-project")

    assert [r.query["audience"] for r in actions.requests] == [["mintgate"]]
    assert [r.path for r in issuer_jwks.requests] == ["/jwks"]
    assert isinstance(verified, VerifiedToken), verified
    assert verified.projects == ("sampleproject",)
    assert verified.claims["iss"] == url
    assert isinstance(refused, Refusal)
    assert refused.code == "project-not-in-scope"
    assert replayed.status_code == 422
    assert replayed.json()["errors"][0]["code"] == "invalid-reuse-token"
    assert "token" not in replayed.json()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mintgate test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.crt", directory / "tls.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_service_serves_tls_itself(tmp_path: Path, config_env: dict[str, str]) -> None:
    cert, key = self_signed_certificate(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    env = {**config_env, "MINTGATE_TLS_CERT": str(cert), "MINTGATE_TLS_KEY": str(key)}

    with mintgate_serve(env, log=tmp_path / "serve.log", verify=trust) as url:
        assert url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=trust) as client:
            health = client.get(f"{url}/healthz")
        # The public CA bundle does not know this certificate: verification really happens.
        with httpx.Client() as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
            client.get(f"{url}/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}

    # Half a TLS configuration must not quietly fall back to plain HTTP.
    for given, unset in [
        ("MINTGATE_TLS_CERT", "MINTGATE_TLS_KEY"),
        ("MINTGATE_TLS_KEY", "MINTGATE_TLS_CERT"),
    ]:
        result = mintgate_cli("check", env={**config_env, given: env[given]})
        assert result.returncode == 2, (given, result.stdout)
        assert unset in result.stderr


TYPO_PUBLISHERS = SAMPLE_PUBLISHERS.replace("environment", "enviroment")
NOT_A_KEY = "-----BEGIN NOT A KEY----- do-not-echo-this\n"


@pytest.mark.parametrize(
    ("changes", "exit_code", "named"),
    [
        pytest.param(
            {"MINTGATE_PORT": "abc"}, 2, ["MINTGATE_PORT", "'abc'"], id="port-not-a-number"
        ),
        pytest.param(
            {"MINTGATE_TOKEN_TTL": "7200"},
            2,
            ["MINTGATE_TOKEN_TTL", "3600", "7200"],
            id="token-ttl-over-one-hour",
        ),
        pytest.param(
            {"MINTGATE_PUBLISHERS_FILE": "{tmp}/typo.toml"},
            2,
            ["{tmp}/typo.toml", "[project.sampleproject]", "enviroment"],
            id="publisher-key-typo",
        ),
        pytest.param(
            {"MINTGATE_SIGNING_KEY_FILES": "{tmp}/not-a-key.pem"},
            2,
            ["MINTGATE_SIGNING_KEY_FILES", "{tmp}/not-a-key.pem"],
            id="signing-key-not-a-key",
        ),
        pytest.param(
            {"MINTGATE_TLS_CERT": "{tmp}/not-a-key.pem", "MINTGATE_TLS_KEY": "{tmp}/not-a-key.pem"},
            2,
            ["MINTGATE_TLS_CERT", "MINTGATE_TLS_KEY"],
            id="tls-files-not-pem",
        ),
        pytest.param({}, 0, [], id="good-config"),
    ],
)
def test_bad_configuration_stops_start_up_naming_the_variable(
    tmp_path: Path,
    config_env: dict[str, str],
    changes: dict[str, str],
    exit_code: int,
    named: list[str],
) -> None:
    (tmp_path / "typo.toml").write_text(TYPO_PUBLISHERS)
    (tmp_path / "not-a-key.pem").write_text(NOT_A_KEY)
    env = {**config_env, **{k: v.format(tmp=tmp_path) for k, v in changes.items()}}

    result = mintgate_cli("check", env=env)

    assert result.returncode == exit_code, result.stderr
    if exit_code == 0:
        assert "configuration is valid" in result.stdout
    else:
        assert result.stderr.startswith("mintgate: configuration error: "), result.stderr
    for fragment in named:
        assert fragment.format(tmp=tmp_path) in result.stderr
    assert "Traceback" not in result.stderr
    assert "do-not-echo-this" not in result.stderr


@pytest.mark.anyio
async def test_token_minted_before_a_restart_verifies_after_it(
    tmp_path: Path, config_env: dict[str, str], github: FakeIssuer
) -> None:
    key = keygen(tmp_path / "key.pem")
    env = {**config_env, "MINTGATE_SIGNING_KEY_FILES": str(key)}
    port = free_port()
    with mintgate_serve(env, log=tmp_path / "first.log", port=port) as url:
        token = await mint_ok(url, github_token(github))

    with mintgate_serve(env, log=tmp_path / "second.log", port=port) as restarted:
        async with registry(restarted) as verifier:
            verified = await verifier.verify(token, "sampleproject")

    assert restarted == url
    assert isinstance(verified, VerifiedToken), verified
    assert kid(token) == active_kid(key)


@pytest.mark.anyio
async def test_without_a_key_file_a_restart_orphans_minted_tokens(
    tmp_path: Path, config_env: dict[str, str], github: FakeIssuer
) -> None:
    # The control for the test above: what the key file is there to prevent.
    port = free_port()
    with mintgate_serve(config_env, log=tmp_path / "first.log", port=port) as url:
        token = await mint_ok(url, github_token(github))

    with mintgate_serve(config_env, log=tmp_path / "second.log", port=port) as restarted:
        async with registry(restarted) as verifier:
            refused = await verifier.verify(token, "sampleproject")

    assert isinstance(refused, Refusal)
    assert refused.code == "invalid-token"
    assert "NO SIGNING KEY CONFIGURED" in (tmp_path / "first.log").read_text()


@pytest.mark.anyio
async def test_rotated_in_key_signs_while_the_old_key_still_verifies(
    tmp_path: Path, config_env: dict[str, str], github: FakeIssuer
) -> None:
    old, new = keygen(tmp_path / "old.pem"), keygen(tmp_path / "new.pem")
    port = free_port()
    with mintgate_serve(
        {**config_env, "MINTGATE_SIGNING_KEY_FILES": str(old)}, log=tmp_path / "old.log", port=port
    ) as url:
        old_token = await mint_ok(url, github_token(github))

    rotated = {**config_env, "MINTGATE_SIGNING_KEY_FILES": f"{new},{old}"}
    with mintgate_serve(rotated, log=tmp_path / "rotated.log", port=port) as url:
        new_token = await mint_ok(url, github_token(github))
        async with registry(url) as verifier:
            old_verified = await verifier.verify(old_token, "sampleproject")
            new_verified = await verifier.verify(new_token, "sampleproject")

    assert isinstance(old_verified, VerifiedToken), old_verified
    assert isinstance(new_verified, VerifiedToken), new_verified
    assert kid(old_token) == active_kid(old)
    assert kid(new_token) == active_kid(new) != active_kid(old)
