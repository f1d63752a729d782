"""What the gateway tests share: a real wheel, a real minted token, the form twine sends."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import respx
from fakeissuer import NOW

from service.gateway import GatewaySettings
from service.minting.keys import SigningKeys
from service.minting.tokens import Grant, Minter

SERVICE = "https://mintgate.example"
JWKS_URL = f"{SERVICE}/.well-known/jwks.json"
REGISTRY = "https://registry.example/legacy/"
AUDIENCE = "mintgate-upload"
PROJECT = "sampleproject"

SETTINGS = GatewaySettings(
    backend_url=REGISTRY,
    mintgate_url=SERVICE,
    backend_username="gateway",
    backend_password="gateway-secret",
    max_upload_bytes=256 * 1024,
)
GATEWAY_AUTH = "Basic " + base64.b64encode(b"gateway:gateway-secret").decode()

# start(revocations=..., policy=..., client=..., **settings changes) -> client driving the app
Gateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@dataclass
class Registry:
    jwks: respx.Route
    upload: respx.Route


def mint(
    keys: SigningKeys,
    *,
    projects: tuple[str, ...] = (PROJECT,),
    audience: str = AUDIENCE,
    issuer: str = SERVICE,
    now: int = NOW,
    ttl: int = 900,
) -> str:
    minter = Minter(keys, issuer=issuer, audience=audience, ttl=ttl)
    grant = Grant(
        subject="repo:octo-org/sampleproject:environment:pypi",
        provider="github",
        projects=projects,
        publishers=["github:octo-org/sampleproject"],
        provenance={},
    )
    return minter.mint(grant, now=now).token


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def wheel(name: str, version: str, *, payload: bytes = b"") -> tuple[str, bytes]:
    """A minimal valid wheel (METADATA, WHEEL, RECORD): its file name and bytes."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{dist}/__init__.py": b"DATA = " + repr(payload).encode() + b"\n",
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: a package the gateway tests upload\n"
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: mintgate-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{dist}-{version}-py3-none-any.whl", buffer.getvalue()


def write_wheel(directory: Path, name: str, version: str) -> Path:
    filename, data = wheel(name, version)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / filename
    path.write_bytes(data)
    return path


def form(name: str = PROJECT, version: str = "1.0.0", **changes: Any) -> dict[str, str | list[str]]:
    """The text fields twine sends with a wheel (a representative subset)."""
    fields: dict[str, str | list[str]] = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": name,
        "version": version,
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "summary": "a package the gateway tests upload",
        "classifiers": ["Programming Language :: Python :: 3", "Typing :: Typed"],
    }
    fields.update(changes)
    return {k: v for k, v in fields.items() if v is not None}


def basic(token: str, username: str = "__token__") -> dict[str, str]:
    raw = base64.b64encode(f"{username}:{token}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def upload(
    client: httpx.AsyncClient,
    token: str | None,
    *,
    project: str = PROJECT,
    fields: dict[str, Any] | None = None,
    username: str = "__token__",
    headers: dict[str, str] | None = None,
    file: tuple[str, bytes] | None = None,
    path: str = "/",
) -> httpx.Response:
    """POST the form twine sends, with Basic `__token__:token` unless headers are given."""
    filename, data = file or wheel(project, "1.0.0")
    return await client.post(
        path,
        data=form(name=project) if fields is None else fields,
        files={"content": (filename, data, "application/octet-stream")},
        headers=headers if headers is not None else basic(token, username) if token else {},
    )
