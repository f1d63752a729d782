"""Staged publishing end to end, every piece a real process: twine -> gateway -> staged ->
nothing in pypiserver -> a maintainer approves through `mintgate serve` with TOTP -> pip gets it.

One twine flow covers the steps; refusals and races are covered in process.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
from fakeissuer import FakeIssuer, github_claims
from gateway.gatewaykit import PROJECT, write_wheel
from pypaflow import write_htpasswd
from servers import (
    LOOPBACK,
    MINTGATE,
    SAMPLE_PUBLISHERS,
    Request,
    child_env,
    free_port,
    json_server,
    mintgate_serve,
    serving,
)

from service.accounts import totp
from service.accounts.secretbox import generate_key

BIN = Path(sys.executable).parent
PASSWORD = "correct horse battery staple"


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "COLUMNS": "500"}
    return subprocess.run(  # noqa: S603 (the venv's own tools, arguments from the test)
        command, env=child_env(env), capture_output=True, text=True, timeout=60, check=False
    )


def _owner_with_staging(api: httpx.Client) -> tuple[dict[str, str], bytes]:
    """alice registers, enrols TOTP, creates the project, trusts the workflow and turns
    staging on: all through the API, as on the pages (the database is the trust source)."""
    body = {"username": "alice", "email": "alice@example.org", "password": PASSWORD}
    assert api.post("/api/v1/register", json=body).status_code == 201
    login = api.post("/api/v1/login", json={**body, "bearer": True})
    auth = {"Authorization": f"Bearer {login.json()['session_id']}"}
    begun = api.post("/api/v1/me/two-factor/totp", headers=auth).json()
    key = begun["manual_key"]
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    # The previous step's code (within the accepted drift): the approval's code, the
    # current step's, is then new without waiting on the wall clock (RFC 6238 5.2).
    code = totp.generate(secret, time.time() - totp.STEP)
    confirmed = api.post("/api/v1/me/two-factor/totp/confirm", json={"code": code}, headers=auth)
    assert confirmed.status_code == 200, confirmed.text
    assert api.post("/api/v1/projects", json={"name": PROJECT}, headers=auth).status_code == 201
    publisher = tomllib.loads(SAMPLE_PUBLISHERS)["project"]["sampleproject"]["publisher"][0]
    added = api.post(f"/api/v1/projects/{PROJECT}/publishers", json=publisher, headers=auth)
    assert added.status_code == 201, added.text
    turned = api.put(f"/api/v1/projects/{PROJECT}/staging", json={"enabled": True}, headers=auth)
    assert turned.status_code == 200, turned.text
    return auth, secret


def test_twine_upload_is_staged_until_a_maintainer_approves_with_totp(
    tmp_path: Path, github: FakeIssuer
) -> None:
    def jwks(request: Request) -> tuple[int, object]:
        return (200, github.jwks()) if request.path == "/jwks" else (404, {})

    issuers = tmp_path / "issuers.toml"
    packages, logs, staging = tmp_path / "packages", tmp_path / "logs", tmp_path / "staging"
    for folder in (packages, logs):
        folder.mkdir()
    htpasswd, password = tmp_path / "htpasswd", secrets.token_urlsafe(16)
    write_htpasswd(htpasswd, "gateway", password)
    (tmp_path / "registry-password").write_text(password + "\n")
    (tmp_path / "secret.key").write_text(generate_key() + "\n")
    database = f"sqlite+aiosqlite:///{tmp_path / 'mintgate.sqlite3'}"
    index_port, gateway_port = free_port(), free_port()
    index, gateway = f"http://{LOOPBACK}:{index_port}", f"http://{LOOPBACK}:{gateway_port}"
    pypiserver = [sys.executable, "-m", "pypiserver", "run", "-i", LOOPBACK, "-p", str(index_port)]
    pypiserver += ["-P", str(htpasswd), "-a", "update", str(packages)]
    registry = {
        "BACKEND_USERNAME": "gateway",
        "BACKEND_PASSWORD_FILE": str(tmp_path / "registry-password"),
    }

    with json_server(jwks) as github_jwks:
        issuers.write_text(
            f'[[issuer]]\nurl = "{github.url}"\nprovider = "github"\n'
            f'jwks_uri = "{github_jwks.url}/jwks"\njwks_hosts = ["{LOOPBACK}"]\n'
        )
        mintgate_env = {
            "MINTGATE_ISSUERS_FILE": str(issuers),
            "MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP": "1",
            "MINTGATE_DATABASE_URL": database,
            "MINTGATE_SECRET_KEY_FILE": str(tmp_path / "secret.key"),
            "MINTGATE_PWNED_PASSWORDS_URL": "off",
            "MINTGATE_STAGING_DIR": str(staging),
            "MINTGATE_STAGING_BACKEND_URL": f"{index}/",
            **{f"MINTGATE_STAGING_{k}": v for k, v in registry.items()},
        }
        gateway_env = {
            "MINTGATE_GATEWAY_BACKEND_URL": f"{index}/",
            **{f"MINTGATE_GATEWAY_{k}": v for k, v in registry.items()},
            "MINTGATE_GATEWAY_HOST": LOOPBACK,
            "MINTGATE_GATEWAY_PORT": str(gateway_port),
            "MINTGATE_GATEWAY_ALLOW_LOOPBACK_HTTP": "1",
            "MINTGATE_GATEWAY_DATABASE_URL": database,
            "MINTGATE_GATEWAY_STAGING_DIR": str(staging),
        }
        with (
            mintgate_serve(mintgate_env, log=logs / "mintgate.log") as mintgate,
            httpx.Client(base_url=mintgate, timeout=10) as api,
        ):
            auth, secret = _owner_with_staging(api)
            with (
                serving(pypiserver, {}, ready=f"{index}/health", log=logs / "pypiserver.log"),
                serving(
                    [str(MINTGATE), "gateway"],
                    {**gateway_env, "MINTGATE_GATEWAY_MINTGATE_URL": mintgate},
                    ready=f"{gateway}/healthz",
                    log=logs / "gateway.log",
                ),
            ):
                oidc = github.sign(github_claims(now=int(time.time())))
                minted = httpx.post(f"{mintgate}/_/oidc/mint-token", json={"token": oidc})
                assert minted.status_code == 200, minted.text
                dist = write_wheel(tmp_path / "dist", PROJECT, "1.0.0")
                command = [str(BIN / "twine"), "upload", "--repository-url", f"{gateway}/"]
                command += ["-u", "__token__", "-p", minted.json()["token"], "--non-interactive"]
                uploaded = _run([*command, "--disable-progress-bar", "--verbose", str(dist)])
                output = uploaded.stdout + uploaded.stderr
                assert uploaded.returncode == 0, output
                assert "Staged, not published" in output, output
                assert list(packages.iterdir()) == []  # the index received nothing

                [release] = api.get("/api/v1/staged", headers=auth).json()["staged_releases"]
                [staged] = release["files"]
                assert staged["filename"] == dist.name
                assert staged["provenance"]["repository"] == "octo-org/sampleproject"
                assert staged["provenance"]["ref"] == "refs/tags/v1.0.0"
                approve = f"/api/v1/staged/{release['id']}/approve"
                bare = api.post(approve, json={"digest": release["digest"]}, headers=auth)
                assert bare.status_code == 403, bare.text  # a session's old proof is not enough
                code = totp.generate(secret, time.time())
                body = {"digest": release["digest"], "totp": code}
                approved = api.post(approve, json=body, headers=auth)
                assert approved.status_code == 200, approved.text
                assert approved.json()["decided_by"] == "alice"

                download = tmp_path / "download"
                fetched = _run(
                    [
                        *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"),
                        *("--disable-pip-version-check", "--index-url", f"{index}/simple/"),
                        *(f"{PROJECT}==1.0.0", "-d", str(download)),
                    ]
                )
                assert fetched.returncode == 0, fetched.stdout + fetched.stderr
                assert (download / dist.name).read_bytes() == dist.read_bytes()
