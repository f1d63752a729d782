"""What pypa/gh-action-pypi-publish does, with real clients on loopback.

From one `repository-url` the action derives `{origin}/_/oidc/audience` and
`{origin}/_/oidc/mint-token`, exchanges the runner's OIDC token, and runs twine with
`__token__` against the URL itself. pypiserver is the index behind the gateway; pip
fetches the upload back from it.
"""

from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from fakeissuer import FakeIssuer, github_claims
from servers import LOOPBACK, child_env

BIN = Path(sys.executable).parent


def write_htpasswd(path: Path, user: str, password: str) -> None:
    """pypiserver's own password file, written with the passlib it reads it with."""
    with warnings.catch_warnings():
        # passlib 1.7.4 imports the stdlib `crypt` module, deprecated since 3.11.
        warnings.simplefilter("ignore", DeprecationWarning)
        from passlib.apache import HtpasswdFile

    users = HtpasswdFile(str(path), new=True)
    users.set_password(user, password)
    users.save()


def pypiserver(port: int, htpasswd: Path, packages: Path) -> list[str]:
    """pypiserver on loopback: anyone reads, only the htpasswd's users upload."""
    command = [sys.executable, "-m", "pypiserver", "run", "-i", LOOPBACK, "-p", str(port)]
    return [*command, "-P", str(htpasswd), "-a", "update", str(packages)]


def github_issuers(jwks_url: str) -> str:
    """issuers.toml: GitHub's issuer, its keys fetched from a loopback JWKS server."""
    return (
        f'[[issuer]]\nurl = "https://token.actions.githubusercontent.com"\nprovider = "github"\n'
        f'jwks_uri = "{jwks_url}"\njwks_hosts = ["{LOOPBACK}"]\n'
    )


def exchange(repository_url: str, github: FakeIssuer) -> str:
    """The action's exchange: audience and mint-token at the repository URL's origin."""
    parts = urlsplit(repository_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    with httpx.Client(timeout=10, trust_env=False) as client:
        audience = client.get(f"{origin}/_/oidc/audience")
        assert audience.status_code == 200, audience.text
        claims = github_claims(now=int(time.time()), aud=audience.json()["audience"])
        minted = client.post(f"{origin}/_/oidc/mint-token", json={"token": github.sign(claims)})
        assert minted.status_code == 200, minted.text
        token: str = minted.json()["token"]
        return token


def twine_upload(repository_url: str, token: str, dist: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "twine"), "upload", "--repository-url", repository_url]
    command += ["-u", "__token__", "-p", token, "--non-interactive", "--disable-progress-bar"]
    # --verbose: twine prints the response body (our reason) only then; without it, the status.
    command += ["--verbose", str(dist)]
    env = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring", "COLUMNS": "500"}
    return subprocess.run(  # noqa: S603 (the venv's twine, arguments from the test)
        command, env=child_env(env), capture_output=True, text=True, timeout=60, check=False
    )


def pip_download(index: str, requirement: str, dest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (the venv's pip, arguments from the test)
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"),
            *("--disable-pip-version-check", "--index-url", f"{index}/simple/"),
            *(requirement, "-d", str(dest)),
        ],
        env=child_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
