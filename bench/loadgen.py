"""Closed-loop HTTP/1.1 load generator over raw keep-alive sockets, one token per request.

Run as its own process (so it does not share the server's event loop):

    python bench/loadgen.py --port 8001 --tokens tokens.txt --connections 16 --duration 5

Each of `--connections` connections sends a request, reads the whole
response, and sends the next, until `--duration` seconds have passed or the
token file runs out (no token is ever sent twice). Prints one JSON object:
requests, elapsed, rps, status counts, latency percentiles, its own CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvloop

PATH = "/_/oidc/mint-token"
# A hung server must not hang the benchmark: a request slower than this ends its connection.
REQUEST_TIMEOUT = 10.0


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ns: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    first_refusal: str = ""
    exhausted: bool = False


def requests(tokens: list[str], port: int) -> Iterator[bytes]:
    for token in tokens:
        body = json.dumps({"token": token}).encode()
        head = (
            f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        yield head.encode() + body


async def connection(port: int, pending: Iterator[bytes], deadline: float, tally: Tally) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            request = next(pending, None)
            if request is None:
                tally.exhausted = True
                return
            started = time.perf_counter_ns()
            writer.write(request)
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = _content_length(head)
                body = await reader.readexactly(length)
            tally.latencies_ns.append(time.perf_counter_ns() - started)
            tally.statuses[status] += 1
            if status != 200 and not tally.first_refusal:
                tally.first_refusal = body[:300].decode(errors="replace")
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        tally.errors[type(exc).__name__] += 1
    finally:
        writer.close()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("response without Content-Length")


def percentile(sorted_values: list[int], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))
    return sorted_values[index] / 1e6


async def run(port: int, tokens: list[str], connections: int, duration: float) -> dict[str, object]:
    # Built before the clock starts: the loop below only writes and reads.
    pending = iter(list(requests(tokens, port)))
    tally = Tally()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    deadline = started + duration
    await asyncio.wait_for(
        asyncio.gather(*(connection(port, pending, deadline, tally) for _ in range(connections))),
        timeout=duration + REQUEST_TIMEOUT + 5,
    )
    elapsed = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    latencies = sorted(tally.latencies_ns)
    done = sum(tally.statuses.values())
    return {
        "connections": connections,
        "requests": done,
        "elapsed": elapsed,
        "rps": done / elapsed,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "non200": done - tally.statuses.get(200, 0),
        "errors": dict(tally.errors),
        "first_refusal": tally.first_refusal,
        "exhausted": tally.exhausted,
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "client_cpu": cpu / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=Path, required=True, help="one OIDC token per line")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    args = parser.parse_args()
    if not (1 <= args.connections <= 256 and 0 < args.duration <= 120):
        parser.error("--connections 1..256, --duration 0..120 s")
    tokens = args.tokens.read_text(encoding="ascii").split()
    result = uvloop.run(run(args.port, tokens, args.connections, args.duration))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
