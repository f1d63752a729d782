"""The compose topology as processes on loopback, published through as a workflow would.

No Docker engine here, so the services of deploy/compose.yaml run as processes: the
migration job's command, two `mintgate serve` replicas and `mintgate gateway` with the
environment read from the compose file, nginx with deploy/nginx.conf, the machine's
PostgreSQL (a throwaway database) and Redis, pypiserver with the index's command. Then
pypa/gh-action-pypi-publish's flow through nginx's one origin: audience, mint-token with
a fake GitHub token, twine with `__token__` to /legacy/; pip fetches the upload back. A
maintainer's API token, made in that database by the service functions the pages call
(the sign-up and 2FA ceremonies have their own tests), uploads through the same route.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from accounts.accounts_helpers import ctx_for, make_accounts
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from deployfiles import compose
from fakeissuer import Clock, FakeIssuer, github_claims
from gateway.gatewaykit import wheel
from publishing.publishingkit import owner_of
from pypaflow import exchange, github_issuers, pip_download, twine_upload, write_htpasswd
from servers import (
    LOOPBACK,
    MINTGATE,
    SAMPLE_PUBLISHERS,
    Request,
    child_env,
    free_port,
    json_server,
    mintgate_cli,
    serving,
)
from sqlalchemy import text
from sqlalchemy.engine import make_url
from store.store_fixtures import PG_URL
from testredis import REDIS_URL
from topology import Loopback, ensure_nginx, nginx_conf, secret_names

from service.accounts.passwords import load_common
from service.accounts.tokens import CreatedToken, create_token
from service.apitokens.keys import load_root_key
from service.defaults import COMMON_PASSWORDS
from service.minting.keys import generate_pem
from service.store import open_store
from service.store.engine import create_engine

PROJECT = "sampleproject"  # its trusted publisher is the replicas' MINTGATE_PUBLISHERS_FILE
MAINTAINED = "maintainedproject"  # uploaded with a maintainer's API token
DAY = 86400
REPLICAS = 2


@dataclass(frozen=True)
class Registry:
    origin: str  # nginx: the one URL a workflow knows
    index: str  # pypiserver, read directly as pip would
    database: str
    api_token_key: Path  # the compose secret every replica and the gateway read
    logs: Path


async def _admin(sql: str) -> None:
    # CREATE/DROP DATABASE refuse to run inside a transaction block.
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


async def _scalar(database: str, sql: str) -> object:
    engine = create_engine(make_url(PG_URL).set(database=database).render_as_string(False))
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text(sql))).scalar_one()
    finally:
        await engine.dispose()


@pytest.fixture
def database() -> Iterator[str]:
    """A throwaway PostgreSQL database, as compose's `postgres` service would hold."""
    name = "mintgate_topology_" + uuid.uuid4().hex[:12]
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def write_secrets(directory: Path, database: str, index_user: str) -> None:
    """A file for every secret compose declares; a secret this test does not know fails it."""
    directory.mkdir()
    api_key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    index_password = secrets.token_urlsafe(16)
    files = {
        "mintgate_signing_key": generate_pem(),
        "mintgate_secret_key": base64.urlsafe_b64encode(os.urandom(32)) + b"\n",
        "mintgate_api_token_key": api_key,
        # The machine's PostgreSQL trusts loopback; the driver still reads the file.
        "pgpass": f"{LOOPBACK}:5432:{database}:postgres:unused\n".encode(),
        "postgres_password": b"unused\n",
        "index_password": index_password.encode() + b"\n",
    }
    assert secret_names() == {*files, "index_htpasswd"}, "compose's secrets changed"
    for name, data in files.items():
        (directory / name).write_bytes(data)
        (directory / name).chmod(0o600)
    write_htpasswd(directory / "index_htpasswd", index_user, index_password)


@pytest.fixture
def registry(tmp_path: Path, github: FakeIssuer, database: str) -> Iterator[Registry]:
    nginx = ensure_nginx()
    logs, work, packages = tmp_path / "logs", tmp_path / "nginx", tmp_path / "packages"
    for directory in (logs, work, packages):
        directory.mkdir()
    (tmp_path / "publishers.toml").write_text(SAMPLE_PUBLISHERS)
    ports = {name: free_port() for name in ("proxy", "gateway", "index")}
    replica_ports = [free_port() for _ in range(REPLICAS)]
    origin = f"http://{LOOPBACK}:{ports['proxy']}"
    test_database = make_url(PG_URL).set(drivername="postgresql", database=database)

    def jwks(request: Request) -> tuple[int, object]:
        return (200, github.jwks()) if request.path == "/jwks" else (404, {})

    with json_server(jwks) as github_jwks, ExitStack() as stack:
        (tmp_path / "issuers.toml").write_text(github_issuers(f"{github_jwks.url}/jwks"))
        loop = Loopback(
            addresses={
                "mintgate": [f"{LOOPBACK}:{port}" for port in replica_ports],
                "gateway": [f"{LOOPBACK}:{ports['gateway']}"],
                "index": [f"{LOOPBACK}:{ports['index']}"],
            },
            replaced={
                "postgres": test_database.render_as_string(hide_password=False),
                "redis": REDIS_URL,
            },
            secrets=tmp_path / "secrets",
            mounts={
                "/etc/mintgate/config/issuers.toml": tmp_path / "issuers.toml",
                "/etc/mintgate/config/publishers.toml": tmp_path / "publishers.toml",
                "/data/packages": packages,
            },
            variables={"MINTGATE_URL": origin},
        )
        index_user = compose()["services"]["gateway"]["environment"][
            "MINTGATE_GATEWAY_BACKEND_USERNAME"
        ]
        write_secrets(loop.secrets, database, index_user)
        gateway_env = loop.environment("gateway")

        index = loop.command("index")
        index[index.index("-p") + 1] = str(ports["index"])
        index[1:1] = ["-i", LOOPBACK]  # `run -i ADDRESS`: the container listens everywhere
        index_url = f"http://{LOOPBACK}:{ports['index']}"
        stack.enter_context(
            serving(
                [sys.executable, "-m", "pypiserver", *index],
                {},
                ready=f"{index_url}/health",
                log=logs / "index.log",
            )
        )
        migrated = mintgate_cli(*loop.command("migrate"), env=loop.environment("migrate"))
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr

        replica_envs = []
        for n, port in enumerate(replica_ports):
            env = {
                **loop.environment("mintgate"),
                "MINTGATE_HOST": LOOPBACK,  # the image's 0.0.0.0, on loopback
                "MINTGATE_PORT": str(port),
                # The fake GitHub's keys are served over http on loopback.
                "MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP": "1",
            }
            replica_envs.append(env)
            stack.enter_context(
                serving(
                    [str(MINTGATE), "serve"],
                    env,
                    ready=f"http://{LOOPBACK}:{port}/readyz",
                    log=logs / f"mintgate-{n}.log",
                )
            )
        assert {"MINTGATE_GATEWAY_HOST", "MINTGATE_GATEWAY_PORT"} <= set(gateway_env)
        gateway_env |= {
            "MINTGATE_GATEWAY_HOST": LOOPBACK,
            "MINTGATE_GATEWAY_PORT": str(ports["gateway"]),
        }
        stack.enter_context(
            serving(
                [str(MINTGATE), *loop.command("gateway")],
                gateway_env,
                ready=f"http://{LOOPBACK}:{ports['gateway']}/healthz",
                log=logs / "gateway.log",
            )
        )
        # The containers' own health checks, run against the processes they would watch.
        for service, env in (("mintgate", replica_envs[0]), ("gateway", gateway_env)):
            command = loop.healthcheck(service)
            assert command[0] == "python"
            checked = subprocess.run(  # noqa: S603 (deploy/healthcheck.py, from compose)
                [sys.executable, *command[1:]],
                env=child_env(env),
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            assert checked.returncode == 0, (service, checked.stderr)

        conf = work / "nginx.conf"
        upstreams = {name: loop.addresses[name] for name in ("mintgate", "gateway")}
        conf.write_text(nginx_conf(ports["proxy"], upstreams, work))
        settings = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
        proxy = [str(nginx), "-p", str(work), "-c", str(conf), "-e", str(logs / "nginx-error.log")]
        stack.enter_context(
            serving(
                [*proxy, "-g", settings],
                {},
                ready=f"{origin}/proxy-healthz",
                log=logs / "nginx.log",
            )
        )
        yield Registry(origin, index_url, database, loop.secrets / "mintgate_api_token_key", logs)


def write_wheel(directory: Path, project: str, size: int) -> Path:
    """A real wheel whose payload does not compress: larger than the proxy's 64k default."""
    filename, data = wheel(project, "1.0.0", payload=os.urandom(size))
    directory.mkdir()
    (directory / filename).write_bytes(data)
    return directory / filename


async def maintainers_api_token(database: str, api_key: Path, project: str) -> str:
    """What a maintainer does on the pages: a project of their own, an API token for it."""
    url = make_url(PG_URL).set(database=database).render_as_string(hide_password=False)
    store = await open_store(url)
    try:
        accounts = make_accounts(store, Clock(time.time()), load_common(COMMON_PASSWORDS))
        owner = await owner_of(accounts, project)
        root = load_root_key(api_key)
        created = await create_token(accounts.deps, ctx_for(owner), root, "ci", [project], DAY)
        assert isinstance(created, CreatedToken), created
        return created.token
    finally:
        await store.close()


def test_a_workflow_publishes_through_the_deployed_registry(
    registry: Registry, github: FakeIssuer, tmp_path: Path
) -> None:
    repository_url = f"{registry.origin}/legacy/"
    with httpx.Client(base_url=registry.origin, timeout=10, trust_env=False) as client:
        # Both replicas answer behind the one origin: request ids start with a per-process part.
        answered = {client.get("/_/oidc/audience").headers["x-request-id"][:16] for _ in range(4)}
        assert len(answered) == REPLICAS

        token = exchange(repository_url, github)  # GET audience, POST mint-token

        # One replay store for every replica: the second use fails wherever it lands.
        oidc = github.sign(github_claims(now=int(time.time())))
        assert client.post("/_/oidc/mint-token", json={"token": oidc}).status_code == 200
        replayed = client.post("/_/oidc/mint-token", json={"token": oidc})
        assert replayed.status_code == 422
        assert replayed.json()["errors"][0]["code"] == "invalid-reuse-token"

        # The upload route, with or without its slash, is the gateway's: it asks for credentials.
        for path in ("/legacy", "/legacy/"):
            anonymous = client.post(path, content=b"")
            assert anonymous.status_code == 401, (path, anonymous.text)
            assert anonymous.headers["www-authenticate"].startswith("Basic")

        # The proxy's 64k cap holds everywhere but the upload route.
        oversized = client.post("/_/oidc/mint-token", content=b"x" * (100 * 1024))
        assert oversized.status_code == 413

        # The replicas' accounts live in the PostgreSQL the migration job prepared: a sign-in
        # for an unknown user is audited there, whichever replica took it.
        attempt = {"username": "nobody", "password": "x" * 16}
        logins = [client.post("/api/v1/login", json=attempt) for _ in range(REPLICAS)]
        assert {r.status_code for r in logins} == {401}, logins[0].text
        assert len({r.headers["x-request-id"][:16] for r in logins}) == REPLICAS
    audited = "SELECT count(*) FROM audit_events WHERE event = 'login:unknown-user'"
    assert asyncio.run(_scalar(registry.database, audited)) == REPLICAS

    # A maintainer's API token (made where the replicas keep accounts) uploads the same way.
    api_token = asyncio.run(
        maintainers_api_token(registry.database, registry.api_token_key, MAINTAINED)
    )
    for project, credential in ((PROJECT, token), (MAINTAINED, api_token)):
        dist = write_wheel(tmp_path / f"dist-{project}", project, 200 * 1024)
        uploaded = twine_upload(repository_url, credential, dist)
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        download = tmp_path / f"download-{project}"
        fetched = pip_download(registry.index, f"{project}==1.0.0", download)
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
        assert (download / dist.name).read_bytes() == dist.read_bytes()

    gateway_log = (registry.logs / "gateway.log").read_text()
    for project in (PROJECT, MAINTAINED):
        assert f"upload forwarded: project={project} version=1.0.0" in gateway_log
    assert token not in gateway_log
    assert api_token not in gateway_log
