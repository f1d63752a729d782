"""Real servers on loopback for end-to-end tests: `mintgate serve` and small JSON endpoints."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

LOOPBACK = "127.0.0.1"
# The console script the project installs: what an operator runs.
MINTGATE = Path(sys.executable).with_name("mintgate")
START_DEADLINE = 20.0
STOP_DEADLINE = 10.0  # SIGTERM to exit, before SIGKILL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    # The caller's own MINTGATE_* settings must not leak into the process under test.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("MINTGATE_")}
    return {**inherited, **env}


def mintgate_cli(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """`mintgate check` / `mintgate keygen`: run to completion, output captured."""
    return subprocess.run(  # noqa: S603 (our own console script, arguments from the test)
        [str(MINTGATE), *args],
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


# The trusted publisher the end-to-end tests mint for.
SAMPLE_PUBLISHERS = """\
[[project.sampleproject.publisher]]
provider = "github"
repository = "octo-org/sampleproject"
repository_owner_id = "1234567"
repository_id = "99999"
workflow = "release.yml"
environment = "pypi"
refs = ["refs/tags/v*"]
"""


@contextmanager
def mintgate_serve(
    env: Mapping[str, str],
    *,
    log: Path,
    port: int | None = None,
    verify: ssl.SSLContext | bool = True,
) -> Iterator[str]:
    """Run `mintgate serve` until /healthz answers; yield its base URL; stop it on exit.

    Sets MINTGATE_PORT and MINTGATE_URL (https when MINTGATE_TLS_CERT is given).
    """
    port = port or free_port()
    scheme = "https" if env.get("MINTGATE_TLS_CERT") else "http"
    url = f"{scheme}://{LOOPBACK}:{port}"
    full = {"MINTGATE_HOST": LOOPBACK, **env, "MINTGATE_PORT": str(port), "MINTGATE_URL": url}
    with serving([str(MINTGATE), "serve"], full, ready=f"{url}/healthz", log=log, verify=verify):
        yield url


@contextmanager
def serving(
    command: Sequence[str],
    env: Mapping[str, str],
    *,
    ready: str,
    log: Path,
    verify: ssl.SSLContext | bool = True,
) -> Iterator[None]:
    """Run `command` until `ready` answers 200 (bounded poll); stop it on exit.

    Output goes to `log`, never a pipe: a chatty server must not block on a full pipe.
    """
    with running(command, env, log) as process:
        _wait_ready(process, command[0], ready, log, verify)
        yield


@contextmanager
def running(
    command: Sequence[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start `command` (output to `log`); on exit stop it and every process it started.

    It runs in a session of its own and on exit gets SIGTERM, as an operator would
    send it, then SIGKILL to its whole process group: killing only `mintgate serve`
    orphaned its workers, which went on running after the test.
    """
    with ExitStack() as stack:
        if command[-1] == "serve" and "MINTGATE_DATABASE_URL" not in env:
            # The trust source is the database: each server its own, never the working
            # directory's (the checkout's) default file, nor beside logs a test reads.
            home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mintgate-db-")))
            env = {**env, "MINTGATE_DATABASE_URL": f"sqlite:///{home / 'mintgate.sqlite3'}"}
        yield stack.enter_context(_running(command, env, log))


@contextmanager
def _running(
    command: Sequence[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 (commands built by the tests)
            list(command),
            env=child_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_DEADLINE)
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left
        process.wait()


def _wait_ready(
    process: subprocess.Popen[bytes],
    name: str,
    ready: str,
    log: Path,
    verify: ssl.SSLContext | bool,
) -> None:
    deadline = time.monotonic() + START_DEADLINE
    with httpx.Client(verify=verify, timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(ready).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            try:
                # Doubles as the pause between attempts and as the check that it did not die.
                code = process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"{name} exited with {code} before it was ready:\n{_tail(log)}")
    raise AssertionError(f"{name} not ready after {START_DEADLINE:g}s:\n{_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


Handler = Callable[[Request], tuple[int, Any]]


@dataclass
class JsonServer:
    """A loopback HTTP server answering GETs with JSON; every request is recorded."""

    url: str
    requests: list[Request] = field(default_factory=list)


@contextmanager
def json_server(handle: Handler) -> Iterator[JsonServer]:
    """Serve `handle(request) -> (status, json body)` on a free loopback port."""
    requests: list[Request] = []

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            request = Request(
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
            )
            requests.append(request)
            status, body = handle(request)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output for failures

    httpd = ThreadingHTTPServer((LOOPBACK, 0), _Handler)
    server = JsonServer(url=f"http://{LOOPBACK}:{httpd.server_address[1]}", requests=requests)
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.05,), name="json-server", daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)
