"""A real `mintgate serve` process the test holds by the hand: signals, raw sockets, its log."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from servers import LOOPBACK, MINTGATE, free_port, running

DEADLINE = 30.0


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if ready():
                return
            try:
                # The pause between attempts, and the check that the server did not die.
                code = self.process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"mintgate exited with {code} before {what}:\n{self.tail()}")
        raise AssertionError(f"not {what} after {DEADLINE:g}s:\n{self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextmanager
def serve(env: Mapping[str, str], log: Path) -> Iterator[Served]:
    port = free_port()
    full = {
        "MINTGATE_HOST": LOOPBACK,
        "MINTGATE_PORT": str(port),
        "MINTGATE_URL": f"http://{LOOPBACK}:{port}",
        **env,
    }
    with running([str(MINTGATE), "serve"], full, log) as process:
        served = Served(process, port, log)
        served.wait_until(lambda: healthy(served.url), "healthy")
        yield served


def healthy(url: str) -> bool:
    try:
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            return client.get(f"{url}/healthz").status_code == 200
    except httpx.TransportError:
        return False
