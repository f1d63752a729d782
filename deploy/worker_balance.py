"""How evenly do `mintgate serve`'s uvicorn workers share connections and work on this machine?

    .venv/bin/python deploy/worker_balance.py [--workers 2] [--connections 16] [--duration 5]

Starts `mintgate serve` with MINTGATE_WORKERS (a fresh signing key, Redis db 13) on a
loopback port. uvicorn binds one listening socket in the parent and every worker accepts
from it (no SO_REUSEPORT), so the kernel, not uvicorn, decides which worker gets a
connection. Three phases, each bounded by --duration:

- `open`: open --connections keep-alive connections at once, one request each, and count
  the established sockets each worker holds (from /proc); repeated --rounds times. This is
  the split a reverse proxy's pooled upstream connections get, and keep it for their life.
- `keepalive`: those connections send requests in a closed loop; CPU seconds per worker.
- `close`: a new connection for every request (`Connection: close`); CPU seconds per worker.

Requests go to /.well-known/jwks.json: in-process work only, so Redis does not take a core.
The load generator runs in this process and shares the 2 cores with the workers: read the
shares, not the absolute rates. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

MINTGATE = Path(sys.executable).with_name("mintgate")
REQUEST = b"GET /.well-known/jwks.json HTTP/1.1\r\nHost: bench\r\n%s\r\n"
PATH = "/.well-known/jwks.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command(server: str, workers: int, port: int) -> list[str]:
    if server == "uvicorn":
        return [str(MINTGATE), "serve"]
    # For comparison only: gunicorn's arbiter also binds one socket that its workers share.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        f"--workers={workers}",
        "--worker-class=uvicorn.workers.UvicornWorker",
        f"--bind=127.0.0.1:{port}",
        "service.asgi:app_from_env()",
    ]


def start(server: str, workers: int, port: int, work: Path) -> subprocess.Popen[bytes]:
    key = work / "signing.pem"
    if not key.exists():
        subprocess.run([str(MINTGATE), "keygen", str(key)], check=True, capture_output=True)  # noqa: S603
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINTGATE_")}
    env |= {
        "MINTGATE_WORKERS": str(workers),
        "MINTGATE_PORT": str(port),
        "MINTGATE_SIGNING_KEY_FILES": str(key),
        "MINTGATE_REDIS_URL": "redis://127.0.0.1:6379/13",
    }
    log = (work / "serve.log").open("ab")
    argv = command(server, workers, port)
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)  # noqa: S603
    deadline = time.monotonic() + 20
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if workers == 1 or len(worker_pids(process.pid)) == workers:
                try:
                    if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        return process
                except httpx.TransportError:
                    pass
            if process.poll() is not None:
                raise SystemExit(f"mintgate exited with {process.returncode}")
            time.sleep(0.1)
    process.kill()
    raise SystemExit("mintgate not ready after 20 s")


def worker_pids(parent: int) -> list[int]:
    """uvicorn's workers: spawned children of the parent, not multiprocessing's tracker."""
    if parent == 0:
        return []
    try:
        children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except FileNotFoundError:
        return []
    return sorted(int(p) for p in children if b"resource_tracker" not in _cmdline(int(p)))


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def established(pid: int, port: int) -> int:
    """Established TCP sockets of `pid` whose local port is the server's."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            local_port = int(cols[1].rsplit(":", 1)[1], 16)
            if local_port == port and cols[3] == "01" and cols[9] in inodes:
                count += 1
    return count


async def request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, extra: bytes) -> None:
    writer.write(REQUEST % extra)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head[:60].decode(errors="replace"))
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)


async def open_split(port: int, connections: int, pids: list[int]) -> list[int]:
    conns = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(connections))
    )
    await asyncio.gather(*(request(r, w, b"") for r, w in conns))
    split = [established(pid, port) for pid in pids]
    for _, w in conns:
        w.close()
    return split


async def keepalive_loop(
    port: int, connections: int, duration: float, pids: list[int]
) -> tuple[int, list[int]]:
    conns = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in range(connections))
    )
    await asyncio.gather(*(request(r, w, b"") for r, w in conns))
    split = [established(pid, port) for pid in pids]
    deadline = time.monotonic() + duration
    done = 0

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await request(reader, writer, b"")
            done += 1
        writer.close()

    await asyncio.gather(*(one(r, w) for r, w in conns))
    return done, split


async def close_loop(port: int, connections: int, duration: float) -> int:
    deadline = time.monotonic() + duration
    done = 0

    async def one() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await request(reader, writer, b"Connection: close\r\n")
            done += 1
            writer.close()

    await asyncio.gather(*(one() for _ in range(connections)))
    return done


def loaded(port: int, pids: list[int], args: argparse.Namespace, keepalive: bool) -> dict[str, Any]:
    before = [cpu_seconds(p) for p in pids]
    started = time.monotonic()
    extra: dict[str, Any] = {}
    if keepalive:
        done, extra["connection_split"] = asyncio.run(
            keepalive_loop(port, args.connections, args.duration, pids)
        )
    else:
        done = asyncio.run(close_loop(port, args.connections, args.duration))
    elapsed = time.monotonic() - started
    used = [round(cpu_seconds(p) - b, 2) for p, b in zip(pids, before, strict=True)]
    total = sum(used) or 1.0
    return {
        **extra,
        "rps": round(done / elapsed),
        "worker_cpu_s": used,
        "worker_share": [round(u / total, 2) for u in used],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["uvicorn", "gunicorn"], default="uvicorn")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        process = start(args.server, args.workers, port, Path(tmp))
        try:
            one = args.workers == 1 and args.server == "uvicorn"
            pids = [process.pid] if one else worker_pids(process.pid)
            splits = [
                asyncio.run(open_split(port, args.connections, pids)) for _ in range(args.rounds)
            ]
            result = {
                "server": args.server,
                "workers": args.workers,
                "connections": args.connections,
                "duration_s": args.duration,
                "open_split": splits,
                # The busiest worker's share of the connections, per round.
                "open_busiest_median": statistics.median(max(x) / sum(x) for x in splits),
                "open_rounds_all_on_one": sum(max(x) == sum(x) for x in splits),
                "keepalive": loaded(port, pids, args, keepalive=True),
                "close": loaded(port, pids, args, keepalive=False),
            }
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
