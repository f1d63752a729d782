"""What the registry-scale bench sets up: its database, issuers, keys, tokens, servers.

Everything it creates it removes: one database per level, `mintgate_bench_<level>`
(dropped at the end unless --keep-db), and its Redis keys (database 13, the
bench's own).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from issuer import JWKSServer, github_claims
from jwt.algorithms import ECAlgorithm
from servers import Server
from sqlalchemy import text

from service.issuers import load_issuers
from service.replay import replay_key
from service.store import migrate, open_store
from service.store.engine import create_engine
from service.trust.seed import GITHUB, issuer_tables, render_issuers
from service.trust.tables import publisher_spec

BENCH = Path(__file__).resolve().parent
ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
DATABASE = "mintgate_bench"


def database_url(level: int) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}_{level}"


REDIS_URL = "redis://127.0.0.1:6379/13"


def bench_redis() -> redis.Redis | None:
    """The benches' Redis, or None (said on stderr) when it does not answer."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        print(f"setup failed: Redis at {REDIS_URL}: {exc}", file=sys.stderr)
        return None
    return client


KID = "scale-bench-1"
# What github_claims() signs: the one publisher the bench's tokens match.
PUBLISHER = {
    "provider": "github",
    "repository": "octo-org/sampleproject",
    "repository_owner_id": "1234567",
    "workflow": "release.yml",
    "environment": "pypi",
    "refs": ["refs/tags/v*"],
}
PUBLISHERS_TOML = """[[project.sampleproject.publisher]]
provider = "github"
repository = "octo-org/sampleproject"
repository_owner_id = "1234567"
repository_id = "99999"
workflow = "release.yml"
environment = "pypi"
refs = ["refs/tags/v*"]
"""


@dataclass
class Keys:
    issuer: ec.EllipticCurvePrivateKey
    jwks: bytes
    signing_key: Path


def make_keys(folder: Path) -> Keys:
    issuer = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(issuer.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "ES256"}]}).encode()
    signing = folder / "signing-key.pem"
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signing.write_bytes(pem)
    return Keys(issuer, jwks, signing)


def sign(keys: Keys, count: int, lifetime: int) -> tuple[list[str], list[str]]:
    """`count` distinct ES256 GitHub tokens expiring `lifetime` s from now: (jtis, tokens)."""
    now = int(time.time())
    jtis, tokens = [], []
    for _ in range(count):
        jti = str(uuid.uuid4())
        claims = github_claims(now=now, jti=jti, exp=now + lifetime)
        tokens.append(jwt.encode(claims, keys.issuer, algorithm="ES256", headers={"kid": KID}))
        jtis.append(jti)
    return jtis, tokens


def write_issuers(folder: Path, count: int, jwks: JWKSServer) -> Path:
    """GitHub's issuer on the loopback JWKS server, then count - 1 synthetic ones."""
    tables = issuer_tables(count)
    tables[0] |= {"algorithms": ["ES256"], "jwks_uri": jwks.url, "jwks_hosts": ["127.0.0.1"]}
    path = folder / f"issuers-{count}.toml"
    path.write_text(render_issuers(tables), encoding="utf-8")
    return path


async def create_database(level: int) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}_{level} WITH (FORCE)"))
            await conn.execute(text(f"CREATE DATABASE {DATABASE}_{level}"))
    finally:
        await admin.dispose()
    engine = create_engine(database_url(level))
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def drop_database(level: int) -> None:
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}_{level} WITH (FORCE)"))
    finally:
        await admin.dispose()


async def add_bench_publisher(url: str, issuers_file: Path) -> None:
    """The project and publisher the bench's tokens match, as an owner would add them."""
    issuers = load_issuers(issuers_file, audience="mintgate", leeway=30)
    _, spec = publisher_spec(PUBLISHER, issuers)
    store = await open_store(url)
    try:
        async with store.transaction() as tx:
            at = datetime.now(UTC)
            project = await tx.add_project("sampleproject", "sampleproject", at)
            await tx.add_publisher(project.id, spec, source="api", created_by=None, now=at)
    finally:
        await store.close()


def server(name: str, folder: Path, keys: Keys, issuers: Path, url: str, **env: str) -> Server:
    publishers = folder / "publishers.toml"
    publishers.write_text(PUBLISHERS_TOML, encoding="utf-8")
    return Server(
        name=name,
        factory="scale_app:create_app",
        env={
            **os.environ,
            "BENCH_ISSUERS_FILE": str(issuers),
            "BENCH_TRUST_SOURCE": "database",
            "BENCH_DATABASE_URL": url,
            "BENCH_PUBLISHERS_FILE": str(publishers),
            "BENCH_SIGNING_KEY": str(keys.signing_key),
            "BENCH_REDIS_URL": REDIS_URL,
            "BENCH_LEEWAY": "30",
            **env,
        },
        log=folder / f"{name}.log",
    )


def forget(client: redis.Redis, jtis: list[str]) -> None:
    """Delete these tokens' replay records, so the pool can be sent again."""
    names = [replay_key(GITHUB, jti) for jti in jtis]
    for start in range(0, len(names), 5000):
        client.unlink(*names[start : start + 5000])


def sweep(client: redis.Redis) -> None:
    names = list(client.scan_iter(match="mintgate:*", count=5000))
    for start in range(0, len(names), 5000):
        client.unlink(*names[start : start + 5000])


def _loadgen_command(port: int, tokens: Path, connections: int, duration: float) -> list[str]:
    return [
        sys.executable,
        str(BENCH / "loadgen.py"),
        "--port",
        str(port),
        "--tokens",
        str(tokens),
        "--connections",
        str(connections),
        "--duration",
        str(duration),
    ]


def _tokens_file(tokens: list[str]) -> Path:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="ascii") as handle:
        handle.write("\n".join(tokens))
    return Path(handle.name)


def loadgen(port: int, tokens: list[str], connections: int, duration: float) -> dict[str, Any]:
    """bench/loadgen.py in its own process, over these tokens (each sent at most once)."""
    path = _tokens_file(tokens)
    try:
        done = subprocess.run(
            _loadgen_command(port, path, connections, duration),
            capture_output=True,
            timeout=duration + 60,
            check=False,
        )
    finally:
        path.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"loadgen failed: {done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


async def loadgen_async(
    port: int, tokens: list[str], connections: int, duration: float
) -> dict[str, Any]:
    """The same, awaitable, so something else can happen while the load runs."""
    path = _tokens_file(tokens)
    try:
        process = await asyncio.create_subprocess_exec(
            *_loadgen_command(port, path, connections, duration),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
    finally:
        path.unlink()
    if process.returncode != 0:
        raise RuntimeError(f"loadgen failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out)
    return result
