"""The servers under test: one uvicorn process each, optionally under py-spy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The same for the floor and mintgate: what `mintgate serve` runs, minus the access log.
SERVER_FLAGS = (
    "--host", "127.0.0.1", "--workers", "1", "--loop", "uvloop", "--http", "httptools",
    "--no-access-log", "--no-server-header", "--no-proxy-headers", "--lifespan", "on",
    "--log-level", "warning",
)  # fmt: skip


class ServerError(Exception):
    pass


def _stat_cpu(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_of(*commands: str) -> dict[str, float]:
    """CPU seconds used so far by every process of each name (its /proc comm), read in one
    pass over /proc: the PostgreSQL backends, a redis-server. A process that exits between
    two readings takes its seconds with it, so read around a phase whose processes stay."""
    totals = dict.fromkeys(commands, 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:  # exited while listed
            continue
        command = text[text.index("(") + 1 : text.rindex(")")]
        if command in totals:
            totals[command] += _stat_cpu(text)
    return totals


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    name: str
    factory: str
    env: dict[str, str]
    log: Path
    profile: Path | None = None  # py-spy raw (folded) stacks go here when set
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    pid: int = 0  # the uvicorn process (py-spy's child when profiling)

    def start(self) -> None:
        # A port set beforehand is kept: mintgate must know its own URL (the `iss`).
        self.port = self.port or free_port()
        command = [sys.executable, "-m", "uvicorn", "--factory", self.factory,
                   "--app-dir", str(BENCH), "--port", str(self.port), *SERVER_FLAGS]  # fmt: skip
        if self.profile is not None:
            # Started as py-spy's child: attaching to a running pid fails in this VM.
            spy = str(Path(sys.executable).parent / "py-spy")
            command = [spy, "record", "--format", "raw", "--rate", "200", "--nolineno",
                       "--output", str(self.profile), "--", *command]  # fmt: skip
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )

    def wait_ready(self, timeout: float = 20.0) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        self.pid = self._uvicorn_pid()
                        return
            except OSError:
                time.sleep(0.1)
        raise ServerError(f"{self.name} did not start; its log:\n{self.log.read_text()[-2000:]}")

    def _uvicorn_pid(self) -> int:
        assert self.process is not None
        if self.profile is None:
            return self.process.pid
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            children = (task / "children").read_text().split()
            if children:
                return int(children[0])
        raise ServerError(f"{self.name}: py-spy has no child process")

    def cpu_seconds(self) -> float:
        return _stat_cpu(Path(f"/proc/{self.pid}/stat").read_text())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        if self.profile is not None and self.pid:
            # py-spy writes its output once its child exits: stop the child, not py-spy.
            os.kill(self.pid, signal.SIGTERM)
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
