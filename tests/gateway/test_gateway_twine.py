"""twine end to end: mint through `mintgate serve`, upload through `mintgate gateway` to pypiserver.

Every piece is a real process on loopback: a fake GitHub JWKS server, mintgate,
the gateway, pypiserver with its own htpasswd, twine and pip. Refused uploads
leave pypiserver's package directory empty; the accepted one comes back from
pip byte for byte. Expiry and revocation need a clock or a store the test
controls, so they are covered in process (test_gateway_upload.py).
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pypaflow
import pytest
from fakeissuer import FakeIssuer, github_claims
from gatewaykit import PROJECT, write_wheel
from pypaflow import pip_download, pypiserver, write_htpasswd
from servers import (
    LOOPBACK,
    MINTGATE,
    SAMPLE_PUBLISHERS,
    Request,
    free_port,
    json_server,
    mintgate_serve,
    serving,
)

from service.minting.tokens import PREFIX


@dataclass(frozen=True)
class Stack:
    gateway: str
    index: str
    packages: Path
    token: str
    logs: Path


@pytest.fixture
def stack(tmp_path: Path, github: FakeIssuer) -> Iterator[Stack]:
    def jwks(request: Request) -> tuple[int, object]:
        return (200, github.jwks()) if request.path == "/jwks" else (404, {})

    issuers, publishers = tmp_path / "issuers.toml", tmp_path / "publishers.toml"
    packages, logs = tmp_path / "packages", tmp_path / "logs"
    packages.mkdir()
    logs.mkdir()
    publishers.write_text(SAMPLE_PUBLISHERS)
    htpasswd, password = tmp_path / "htpasswd", secrets.token_urlsafe(16)
    write_htpasswd(htpasswd, "gateway", password)
    (tmp_path / "gateway-password").write_text(password + "\n")
    index_port, gateway_port = free_port(), free_port()
    index = f"http://{LOOPBACK}:{index_port}"
    gateway = f"http://{LOOPBACK}:{gateway_port}"

    with json_server(jwks) as github_jwks:
        issuers.write_text(
            f'[[issuer]]\nurl = "{github.url}"\nprovider = "github"\n'
            f'jwks_uri = "{github_jwks.url}/jwks"\njwks_hosts = ["{LOOPBACK}"]\n'
        )
        mintgate_env = {
            "MINTGATE_ISSUERS_FILE": str(issuers),
            "MINTGATE_PUBLISHERS_FILE": str(publishers),
            "MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP": "1",
        }
        gateway_env = {
            "MINTGATE_GATEWAY_BACKEND_URL": f"{index}/",
            "MINTGATE_GATEWAY_BACKEND_USERNAME": "gateway",
            "MINTGATE_GATEWAY_BACKEND_PASSWORD_FILE": str(tmp_path / "gateway-password"),
            "MINTGATE_GATEWAY_HOST": LOOPBACK,
            "MINTGATE_GATEWAY_PORT": str(gateway_port),
            "MINTGATE_GATEWAY_ALLOW_LOOPBACK_HTTP": "1",
        }
        with (
            mintgate_serve(mintgate_env, log=logs / "mintgate.log") as mintgate,
            serving(
                pypiserver(index_port, htpasswd, packages),
                {},
                ready=f"{index}/health",
                log=logs / "pypiserver.log",
            ),
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
            yield Stack(gateway, index, packages, minted.json()["token"], logs)


def twine_upload(stack: Stack, token: str, dist: Path) -> subprocess.CompletedProcess[str]:
    return pypaflow.twine_upload(f"{stack.gateway}/", token, dist)


def test_twine_uploads_through_the_gateway_and_pip_gets_it_back(
    stack: Stack, tmp_path: Path
) -> None:
    good = write_wheel(tmp_path / "dist", PROJECT, "1.0.0")
    other = write_wheel(tmp_path / "other", "otherproject", "1.0.0")
    tampered = stack.token[:-1] + ("A" if stack.token[-1] != "A" else "B")
    refusals = [
        (stack.token, other, "token is not valid for project 'otherproject'"),
        (tampered, good, "prefix or checksum is wrong"),
        ("pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAw", good, "not a mintgate token"),
    ]

    for token, dist, reason in refusals:
        refused = twine_upload(stack, token, dist)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, output
        assert "403 Forbidden" in output, output
        assert reason in output, output
    assert list(stack.packages.iterdir()) == []

    uploaded = twine_upload(stack, stack.token, good)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    download = tmp_path / "download"
    fetched = pip_download(stack.index, f"{PROJECT}==1.0.0", download)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert (download / good.name).read_bytes() == good.read_bytes()
    assert [p.name for p in stack.packages.iterdir()] == [good.name]
    for log in stack.logs.iterdir():
        assert stack.token not in log.read_text(), log.name
        assert stack.token.removeprefix(PREFIX)[:40] not in log.read_text(), log.name
