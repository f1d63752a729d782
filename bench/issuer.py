"""A fake GitHub issuer that is real: an RSA key, a JWKS served over loopback http, tokens.

The claims come from `tests/fakeissuer.github_claims`, so the benchmark mints
for the same workflow runs the tests do (they match `sampleproject` and
`Sample_Plugin` in tests/data/publishers.toml).
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import RSAAlgorithm

ROOT = Path(__file__).resolve().parent.parent


def _fakeissuer() -> ModuleType:
    # Loaded by path: putting tests/ on sys.path would shadow bench modules (tests/servers.py).
    spec = importlib.util.spec_from_file_location("fakeissuer", ROOT / "tests" / "fakeissuer.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fake = _fakeissuer()
GITHUB: str = _fake.GITHUB
github_claims: Callable[..., dict[str, Any]] = _fake.github_claims

KID = "bench-key-1"


@dataclass(frozen=True)
class Files:
    jwks: Path
    issuer_key: Path
    signing_key: Path
    issuers: Path


def write_keys(folder: Path) -> Files:
    issuer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(issuer_key.public_key()))
    files = Files(
        jwks=folder / "jwks.json",
        issuer_key=folder / "issuer-key.pem",
        signing_key=folder / "signing-key.pem",
        issuers=folder / "issuers.toml",
    )
    files.jwks.write_text(json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}))
    files.issuer_key.write_bytes(_pem(issuer_key))
    files.signing_key.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    return files


def write_issuers(files: Files, jwks_url: str) -> None:
    # tests/data/publishers.toml names all four issuers; only GitHub is ever contacted.
    files.issuers.write_text(
        f"""[[issuer]]
url = "{GITHUB}"
provider = "github"
jwks_uri = "{jwks_url}"
jwks_hosts = ["127.0.0.1"]

[[issuer]]
url = "https://gitlab.com"
provider = "gitlab"

[[issuer]]
url = "{GITHUB}/octo-enterprise"
provider = "github"

[[issuer]]
url = "https://gitlab.example.com"
provider = "gitlab"
""",
        encoding="utf-8",
    )


def add_issuer_key(files: Files, kid: str) -> Path:
    """A new RSA key published under `kid` next to the others (a rotation); returns its PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    document = json.loads(files.jwks.read_text())
    document["keys"].append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    files.jwks.write_text(json.dumps(document))
    path = files.jwks.parent / f"issuer-key-{kid}.pem"
    path.write_bytes(_pem(key))
    return path


def _pem(key: Any) -> bytes:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return data


class JWKSServer:
    """Serves the JWKS document on 127.0.0.1 from a thread; counts fetches.

    Assign `document` to publish another (a key rotation).
    """

    def __init__(self, document: bytes) -> None:
        server = self
        self.document = document

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                document = server.document
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(document)))
                self.send_header("Cache-Control", "public, max-age=3600")
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.fetches = 0
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/jwks"

    def __enter__(self) -> JWKSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=5)


def _sign_batch(
    pem: bytes, count: int, now: int, lifetime: int, kid: str = KID
) -> list[tuple[str, str]]:
    key = serialization.load_pem_private_key(pem, password=None)
    out = []
    for _ in range(count):
        jti = str(uuid.uuid4())
        claims = github_claims(now=now, jti=jti, exp=now + lifetime)
        out.append((jti, jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})))  # type: ignore[arg-type]
    return out


def make_tokens(
    files: Files, count: int, *, lifetime: int, kid: str = KID, key_file: Path | None = None
) -> tuple[list[str], list[str], int]:
    """`count` distinct RS256 tokens on the real clock, signed on both cores.

    Signed by the first issuer key unless `key_file` (with its `kid`) is given.
    Returns the jtis, the tokens, and the unix time they all expire.
    """
    now = int(time.time())
    pem = (key_file or files.issuer_key).read_bytes()
    batch = 500
    sizes = [min(batch, count - start) for start in range(0, count, batch)]
    n = len(sizes)
    with ProcessPoolExecutor(max_workers=2) as pool:
        batches = list(
            pool.map(_sign_batch, [pem] * n, sizes, [now] * n, [lifetime] * n, [kid] * n)
        )
    pairs = [pair for part in batches for pair in part]
    return [j for j, _ in pairs], [t for _, t in pairs], now + lifetime
