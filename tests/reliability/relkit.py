"""What the reliability suites share: a fast real issuer, its JWKS on loopback, a Redis of our own.

Everything is real and on loopback: an ES256 keypair signs the CI tokens (about
ten times faster to sign than RS256, so a suite can pre-sign thousands), a
threaded HTTP server publishes its JWKS and counts every request, and each
test that kills Redis starts its own `redis-server` on a free port so the
machine's shared Redis is never touched.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from fakeissuer import GITHUB, ec_jwk, ec_key, github_claims
from servers import LOOPBACK, SAMPLE_PUBLISHERS, free_port

from service.replay import replay_key
from service.settings import Settings

REDIS_DEADLINE = 10.0


class EcIssuer:
    """GitHub's issuer URL with an ES256 key: real signatures, cheap enough to make thousands."""

    def __init__(self, url: str = GITHUB, kid: str = "es-1") -> None:
        self.url = url
        self.kid = kid
        self.key = ec_key()

    def jwks(self) -> dict[str, Any]:
        return {"keys": [{**ec_jwk(self.key, self.kid), "use": "sig", "alg": "ES256"}]}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": kid or self.kid})

    def token(self, now: float | None = None, **changes: Any) -> tuple[str, dict[str, Any]]:
        """A token the sample publisher trusts, and its claims (for the jti and exp)."""
        claims = github_claims(now=int(time.time() if now is None else now), **changes)
        return self.sign(claims), claims


def replay_record(issuer: str, claims: dict[str, Any]) -> str:
    """The Redis key the exchange writes for this OIDC token: its proof of single use."""
    return replay_key(issuer, claims["jti"])


@dataclass
class JwksServer:
    """A loopback JWKS endpoint that can be switched down; counts every request it gets."""

    url: str
    issuer: EcIssuer
    up: bool = True
    requests: int = 0
    # What `stamp()` said at each request: tests pass the service's injected clock.
    stamps: list[float] = field(default_factory=list)
    stamp: Callable[[], float] = time.time
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self) -> tuple[int, bytes]:
        with self.lock:
            self.requests += 1
            self.stamps.append(self.stamp())
            up = self.up
        if up:
            return 200, json.dumps(self.issuer.jwks()).encode()
        return 503, b'{"error": "down for maintenance"}'


@contextmanager
def jwks_server(issuer: EcIssuer) -> Iterator[JwksServer]:
    state: JwksServer

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = state.answer() if self.path == "/jwks" else (404, b"{}")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
    state = JwksServer(url=f"http://{LOOPBACK}:{httpd.server_address[1]}/jwks", issuer=issuer)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def write_config(directory: Path, jwks_url: str, *, leeway: int = 30) -> dict[str, Path]:
    """issuers.toml (GitHub, ES256, keys from `jwks_url`) and the sample publisher."""
    issuers = directory / "issuers.toml"
    issuers.write_text(
        "[[issuer]]\n"
        f'url = "{GITHUB}"\n'
        'provider = "github"\n'
        'algorithms = ["ES256"]\n'
        f"leeway = {leeway}\n"
        f'jwks_uri = "{jwks_url}"\n'
        f'jwks_hosts = ["{LOOPBACK}"]\n'
    )
    publishers = directory / "publishers.toml"
    publishers.write_text(SAMPLE_PUBLISHERS)
    return {"issuers_file": issuers, "publishers_file": publishers}


# Every load here comes from one loopback address and one publisher: per-address and
# per-publisher mint limits would shed it, and these suites are about other faults.
NO_RATE_LIMITS = {
    "MINTGATE_RATE_LIMIT_MINT_IP": "off",
    "MINTGATE_RATE_LIMIT_MINT_PUBLISHER": "off",
}


def config_env(files: dict[str, Path]) -> dict[str, str]:
    """The same configuration as MINTGATE_* variables for `mintgate serve`."""
    return {
        "MINTGATE_ISSUERS_FILE": str(files["issuers_file"]),
        "MINTGATE_PUBLISHERS_FILE": str(files["publishers_file"]),
        "MINTGATE_DATABASE_URL": f"sqlite:///{files['issuers_file'].parent / 'mintgate.sqlite3'}",
        "MINTGATE_JWKS_ALLOW_LOOPBACK_HTTP": "on",
        **NO_RATE_LIMITS,
    }


def app_settings(files: dict[str, Path], **changes: Any) -> Settings:
    """Settings for an in-process app: this configuration, rate limits off."""
    limits = {name: None for name in Settings.__dataclass_fields__ if name.startswith("rate_limit")}
    # The database of the trust source, beside the configuration (never the working directory).
    database = files["issuers_file"].parent / "mintgate.sqlite3"
    changes.setdefault("database_url", f"sqlite+aiosqlite:///{database}")
    return Settings(
        issuers_file=files["issuers_file"],
        publishers_file=files["publishers_file"],
        jwks_allow_loopback_http=True,
        **{**limits, **changes},
    )


class RedisServer:
    """A `redis-server` of the test's own, on a fixed free port: killed and restarted at will."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"redis://{LOOPBACK}:{self.port}/0"
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it and wait (bounded) until it answers PING; returns when it first did."""
        command = [
            "redis-server",
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        with self._log.open("ab") as out:
            self._process = subprocess.Popen(  # noqa: S603 (fixed command, port from the test)
                command, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + REDIS_DEADLINE
        while time.monotonic() < deadline:
            if self.ping():
                return time.monotonic()
            try:
                code = self._process.wait(timeout=0.01)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"redis-server exited with {code}: {self._log.read_text()}")
        raise AssertionError(f"redis-server not answering after {REDIS_DEADLINE:g}s")

    def kill(self) -> None:
        """SIGKILL, then reap: no shutdown hooks, no goodbye to connected clients."""
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=REDIS_DEADLINE)
        self._process = None

    def pause(self) -> None:
        """SIGSTOP: the socket stays open and accepts, nothing is answered (a hung Redis)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def ping(self) -> bool:
        """One raw RESP PING: independent of the redis-py client under test."""
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self.kill()


@contextmanager
def redis_server(log: Path) -> Iterator[RedisServer]:
    server = RedisServer(log)
    server.start()
    try:
        yield server
    finally:
        server.stop()
