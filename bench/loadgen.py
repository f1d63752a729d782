"""Closed-loop HTTP/1.1 load generator over raw keep-alive sockets, one token per request.

Run as its own process (so it does not share the server's event loop):

    python bench/loadgen.py --port 8001 --tokens tokens.txt --connections 16 --duration 5

Each of `--connections` connections sends a request, reads the whole
response, and sends the next, until `--duration` seconds have passed or the
token file runs out (no token is ever sent twice unless `--cycle`). Prints one
JSON object: requests, elapsed, rps, status counts, latency percentiles, its
own CPU time.

Other shapes of request, for the other benchmarks: `--path`, `--form` (the
token as `token=...`, as RFC 7662 introspection takes it), `--header`
(repeatable, e.g. HTTP Basic client credentials), `--expect` (a 200 whose body
lacks this text counts as a refusal: an introspection answering
`{"active":false}` is not a success). `--burst` opens every connection first,
then sends one request on each at once and reads every answer: `elapsed` is
from the first byte sent to the last answer read (the JWKS storm).

`--rate R` makes the load open-loop: R requests per second in all, spread
evenly over the connections on a fixed schedule, the way traffic arrives
whether or not the server keeps up. Latency is counted from when a request
was due, not when it could be sent, so a server that falls behind shows it
(no coordinated omission). Closed-loop latency at N connections is only N
divided by throughput; a tail-latency aim means something at an offered load.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

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


@dataclass(frozen=True)
class Shape:
    """What each request looks like; the default is a mint-token request."""

    path: str = PATH
    form: bool = False
    headers: Sequence[str] = ()
    expect: bytes = b""


def requests(tokens: list[str], port: int, shape: Shape = Shape()) -> Iterator[bytes]:
    kind = "application/x-www-form-urlencoded" if shape.form else "application/json"
    extra = "".join(f"{line}\r\n" for line in shape.headers)
    for token in tokens:
        body = urlencode({"token": token}) if shape.form else json.dumps({"token": token})
        data = body.encode()
        head = (
            f"POST {shape.path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
            f"Content-Type: {kind}\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        yield head.encode() + data


def answered(tally: Tally, status: int, body: bytes, expect: bytes) -> None:
    if status == 200 and expect and expect not in body:
        status = 299  # a 200 that is not the answer asked for: counted apart, never a success
    tally.statuses[status] += 1
    if status != 200 and not tally.first_refusal:
        tally.first_refusal = body[:300].decode(errors="replace")


async def connection(
    port: int,
    pending: Iterator[bytes],
    deadline: float,
    tally: Tally,
    expect: bytes = b"",
    schedule: Iterator[int] | None = None,
) -> None:
    """Closed loop; with `schedule` (perf_counter_ns times), each request waits for its time."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline:
            request = next(pending, None)
            if request is None:
                tally.exhausted = True
                return
            started = time.perf_counter_ns()
            if schedule is not None:
                due = next(schedule)
                if due / 1e9 >= deadline:
                    return
                if due > started:
                    await asyncio.sleep((due - started) / 1e9)  # pacing, not waiting on state
                started = due
            writer.write(request)
            status, body = await _response(reader)
            tally.latencies_ns.append(time.perf_counter_ns() - started)
            answered(tally, status, body, expect)
    except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
        tally.errors[type(exc).__name__] += 1
    finally:
        writer.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    async with asyncio.timeout(REQUEST_TIMEOUT):
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = _content_length(head)
        return status, await reader.readexactly(length)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("response without Content-Length")


def _schedule(start: float, rate: float, index: int, connections: int) -> Iterator[int]:
    """When connection `index` sends its requests: every `connections`-th slot of `rate`/s."""
    interval = 1e9 / rate
    first = start * 1e9 + index * interval
    return (int(first + k * connections * interval) for k in itertools.count())


def percentile(sorted_values: list[int], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))
    return sorted_values[index] / 1e6


async def burst(
    port: int, prepared: list[bytes], tally: Tally, expect: bytes
) -> tuple[float, float]:
    """Every connection open first; then all requests at once. Returns (started, finished)."""
    opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in prepared))
    gate = asyncio.Event()

    async def one(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter], data: bytes) -> None:
        reader, writer = stream
        await gate.wait()
        try:
            started = time.perf_counter_ns()
            writer.write(data)
            status, body = await _response(reader)
            tally.latencies_ns.append(time.perf_counter_ns() - started)
            answered(tally, status, body, expect)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
            tally.errors[type(exc).__name__] += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(one(s, d)) for s, d in zip(opened, prepared, strict=True)]
    await asyncio.sleep(0)  # every task is waiting at the gate
    started = time.perf_counter()
    gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=REQUEST_TIMEOUT + 5)
    return started, time.perf_counter()


async def run(
    port: int,
    tokens: list[str],
    connections: int,
    duration: float,
    *,
    shape: Shape = Shape(),
    cycle: bool = False,
    burst_mode: bool = False,
    rate: float | None = None,
) -> dict[str, object]:
    # Built before the clock starts: the loop below only writes and reads.
    prepared = list(requests(tokens, port, shape))
    pending = itertools.cycle(prepared) if cycle else iter(prepared)
    tally = Tally()
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    if burst_mode:
        started, finished = await burst(port, prepared[:connections], tally, shape.expect)
        elapsed = finished - started
    else:
        started = time.perf_counter()
        deadline = started + duration
        await asyncio.wait_for(
            asyncio.gather(
                *(
                    connection(
                        port,
                        pending,
                        deadline,
                        tally,
                        shape.expect,
                        None if rate is None else _schedule(started, rate, index, connections),
                    )
                    for index in range(connections)
                )
            ),
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
        "max_ms": latencies[-1] / 1e6 if latencies else float("nan"),
        "client_cpu": cpu / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=Path, required=True, help="one OIDC token per line")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--path", default=PATH)
    parser.add_argument("--form", action="store_true", help="send token=... form-encoded")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--expect", default="", help="text every 200 body must hold")
    parser.add_argument("--cycle", action="store_true", help="reuse tokens (verify, not mint)")
    parser.add_argument("--burst", action="store_true", help="one request per connection, at once")
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests/s in all")
    args = parser.parse_args()
    limit = 2000 if args.burst else 256
    if not (1 <= args.connections <= limit and 0 < args.duration <= 120):
        parser.error(f"--connections 1..{limit}, --duration 0..120 s")
    if args.rate is not None and (not 0 < args.rate <= 100_000 or args.burst):
        parser.error("--rate 0..100000 requests/s, and not with --burst")
    tokens = args.tokens.read_text(encoding="ascii").split()
    if args.burst and len(tokens) < args.connections:
        parser.error("--burst needs a token per connection")
    shape = Shape(args.path, args.form, tuple(args.header), args.expect.encode())
    result = uvloop.run(
        run(
            args.port,
            tokens,
            args.connections,
            args.duration,
            shape=shape,
            cycle=args.cycle,
            burst_mode=args.burst,
            rate=args.rate,
        )
    )
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
