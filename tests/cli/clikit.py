"""`mintgate` as a process: with a clean MINTGATE_* environment, and optionally a terminal
(a pseudo-terminal from `pty`) on stdout or stderr, where the command behaves differently."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTGATE_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def mintgate(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    terminal: str | None = None,
) -> Ran:
    """Run `python -m service.cli ARGS`; `terminal` is "stdout" or "stderr" for a pty there."""
    command = [sys.executable, "-m", "service.cli", *args]
    if terminal is None:
        done = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            command,
            cwd=cwd,
            env=clean_env(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        return Ran(done.returncode, done.stdout, done.stderr)
    leader, follower = pty.openpty()
    streams: dict[str, int] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    streams[terminal] = follower
    with subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        command,
        cwd=cwd,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        stdout=streams["stdout"],
        stderr=streams["stderr"],
    ) as process:
        os.close(follower)
        seen = _drain(leader)
        other, spare = process.communicate(timeout=TIMEOUT)
        piped = (other if terminal == "stderr" else spare).decode()
    on_tty = seen.decode().replace("\r\n", "\n")
    if terminal == "stdout":
        return Ran(process.returncode, on_tty, piped)
    return Ran(process.returncode, piped, on_tty)


def _drain(fd: int) -> bytes:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: every holder of the terminal's other end has closed it
        pass
    finally:
        os.close(fd)
    return b"".join(chunks)
