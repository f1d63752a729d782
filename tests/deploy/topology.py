"""deploy/compose.yaml and deploy/nginx.conf turned into processes on loopback.

Nothing here writes a second configuration: the environment, commands and proxy
rules are the shipped files', and only what names a container's world changes: a
service's host and port become a loopback address, `/run/secrets/NAME` and bind-mount
targets become files of the test's. Anything else the files gain that this module
does not know how to map fails the test, so the deployment and its test cannot drift.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aptkit import ensure_installed
from deployfiles import DEPLOY, compose

NGINX = Path("/usr/sbin/nginx")
APT_TIMEOUT = 600
# Where the image keeps what the compose file names by container path.
IMAGE_FILES = {"/opt/mintgate/healthcheck.py": DEPLOY / "healthcheck.py"}


def ensure_nginx() -> Path:
    """Debian's nginx, after `apt-get install` when it is missing (root, as CI runs)."""
    return ensure_installed(NGINX, ("nginx",), timeout=APT_TIMEOUT)


@dataclass(frozen=True)
class Loopback:
    """Where each compose service answers in the test, and where its files are."""

    # compose service name -> "127.0.0.1:PORT", one per replica
    addresses: Mapping[str, list[str]]
    # compose service name -> the URL that replaces any URL naming it whole: the test's
    # PostgreSQL database (its own role and name) and Redis database number
    replaced: Mapping[str, str]
    secrets: Path  # a file per compose secret, by the secret's name
    mounts: Mapping[str, Path]  # bind-mount or volume target -> the test's path
    variables: Mapping[str, str]  # what ${NAME:-default} interpolates to

    def value(self, raw: str) -> str:
        """One environment value or argument of the compose file, as it reads here."""
        value = interpolate(raw, self.variables)
        if value.startswith("/run/secrets/"):
            name = PurePosixPath(value).name
            path = self.secrets / name
            assert path.is_file(), f"no file for compose secret {name}"
            return str(path)
        if value in self.mounts:
            return str(self.mounts[value])
        if value in IMAGE_FILES:
            return str(IMAGE_FILES[value])
        if "://" in value:
            return self._url(value)
        assert not value.startswith("/"), f"compose names a container path this test lacks: {value}"
        return value

    def _url(self, raw: str) -> str:
        parts = urlsplit(raw)
        if parts.hostname in self.replaced:
            return self.replaced[parts.hostname]
        if parts.hostname not in self.addresses:
            return raw  # the public origin, already interpolated
        (address,) = self.addresses[parts.hostname][:1]
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{address}" if userinfo else address
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def environment(self, service: str) -> dict[str, str]:
        raw: dict[str, Any] = compose()["services"][service].get("environment", {})
        return {name: self.value(str(value)) for name, value in raw.items()}

    def command(self, service: str) -> list[str]:
        return [self.value(str(arg)) for arg in compose()["services"][service]["command"]]

    def healthcheck(self, service: str) -> list[str]:
        test = compose()["services"][service]["healthcheck"]["test"]
        assert test[0] == "CMD", test
        return [self.value(str(arg)) for arg in test[1:]]


def interpolate(raw: str, variables: Mapping[str, str]) -> str:
    """Compose's `${NAME}` and `${NAME:-default}`, from `variables` only (not the caller's)."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3)
        if name in variables:
            return variables[name]
        assert default is not None, f"compose needs ${{{name}}} and the test does not set it"
        return default

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", one, raw)


def secret_names() -> set[str]:
    return set(compose()["secrets"])


def nginx_conf(listen: int, addresses: Mapping[str, list[str]], work: Path) -> str:
    """deploy/nginx.conf with loopback addresses, and its runtime files under `work`.

    Swapped: the listen port; each upstream's `server NAME:PORT resolve` line for one line
    per loopback address (Debian's nginx predates `resolve` in open-source upstreams, and a
    loopback address needs no resolving); the pid and temporary paths, so runs in parallel
    do not share them. Every swap must match exactly as often as expected.
    """
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    text = _swap(text, r"^(\s*)listen 8080;$", rf"\1listen 127.0.0.1:{listen};", 1)
    for name, targets in addresses.items():
        pattern = rf"^(\s*)server {re.escape(name)}:\d+ resolve( [^;]*)?;$"
        lines = "\n".join(rf"\1server {address}\2;" for address in targets)
        text = _swap(text, pattern, lines, 1)
    assert not re.search(r"^\s*server [a-z]", text, re.MULTILINE), "an upstream left unmapped"
    # The pid file and five temporary paths: the container's /tmp is a tmpfs of its own.
    text = _swap(text, r"/tmp/", f"{work}/", 6)  # noqa: S108 (the shipped paths, replaced)
    return text


def _swap(text: str, pattern: str, replacement: str, count: int) -> str:
    swapped, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert found == count, f"deploy/nginx.conf: expected {count} of {pattern!r}, found {found}"
    return swapped
