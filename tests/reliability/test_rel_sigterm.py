"""SIGTERM to `mintgate serve` with two workers while a stream of mints is in flight.

What Kubernetes does at every rollout: the supervisor gets SIGTERM while clients
are mid-request. Every request sent before the signal must get its whole answer
(a minted token, not a reset connection or a truncated body), the stream may
keep going until the workers stop accepting, and the process exits 0.

"Sent" is when the request's last byte was written to the socket (httpcore's
trace), not when `post()` was called: with 16 clients in one Python process a
request can wait in the client for a while, and a request still in the client
at the signal was not sent before it.

Requests written after the signal may end without an answer: uvicorn's
supervisor passes SIGTERM on to its workers at its next poll (up to 0.5 s), and
a worker that then shuts down closes its idle keep-alive connections even when
a request has just arrived on one (about one request per connection here).
"""

from __future__ import annotations

import asyncio
import math
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from relkit import EcIssuer, config_env, jwks_server, redis_server, write_config
from servers import LOOPBACK, MINTGATE, free_port, running

from service.minting.keys import generate_pem

pytestmark = pytest.mark.anyio

CLIENTS = 16
BEFORE_SIGTERM = 300  # answers before the signal: both workers are busy by then
DEADLINE = 30.0
MINT = "/_/oidc/mint-token"


@dataclass(frozen=True, slots=True)
class Outcome:
    sent: float  # when the request's last byte was written to the socket
    done: float
    status: int | None  # None: no response (the connection failed)
    minted: bool
    error: str | None


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    """/readyz answers and the supervisor has two children (workers, maybe a resource tracker)."""
    deadline = time.monotonic() + DEADLINE
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                if (
                    client.get(f"{base}/readyz").status_code == 200
                    and len(children(process.pid)) >= 2
                ):
                    return
            except httpx.TransportError:
                pass
            try:
                code = process.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"mintgate exited with {code}:\n{log.read_text()[-3000:]}")
    raise AssertionError(f"mintgate not ready after {DEADLINE:g}s:\n{log.read_text()[-3000:]}")


async def test_sigterm_under_load_with_two_workers_loses_no_request(tmp_path: Path) -> None:
    issuer = EcIssuer()
    key = tmp_path / "signing.pem"
    key.write_bytes(generate_pem())
    tokens = iter([issuer.token()[0] for _ in range(4000)])
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    log = tmp_path / "serve.log"
    with jwks_server(issuer) as jwks, redis_server(tmp_path / "redis.log") as redis:
        env = {
            **config_env(write_config(tmp_path, jwks.url)),
            "MINTGATE_WORKERS": "2",
            "MINTGATE_SIGNING_KEY_FILES": str(key),
            "MINTGATE_REDIS_URL": redis.url,
            "MINTGATE_HOST": LOOPBACK,
            "MINTGATE_PORT": str(port),
            "MINTGATE_URL": base,
        }
        with running([str(MINTGATE), "serve"], env, log) as process:
            await anyio.to_thread.run_sync(wait_ready, process, base, log)
            outcomes, sigterm = await drive(process, base, tokens)
            code = await anyio.to_thread.run_sync(lambda: process.wait(timeout=DEADLINE))

    before = [o for o in outcomes if o.sent < sigterm]
    lost = [o for o in before if not o.minted]
    assert not lost, f"{len(lost)} requests sent before SIGTERM lost, e.g. {lost[0]}"
    in_flight = [o for o in before if o.done > sigterm]
    # Written, not yet answered: usually a few, since one Python client drives 16 connections.
    assert in_flight, "SIGTERM did not land while requests were in flight"
    after = [o for o in outcomes if o.sent >= sigterm]
    # Sent after the signal: a whole answer, or no connection at all; never a 5xx.
    assert all(o.minted or o.status is None for o in after), [o for o in after if not o.minted]
    assert code == 0, log.read_text()[-3000:]


async def drive(
    process: subprocess.Popen[bytes], base: str, tokens: Iterator[str]
) -> tuple[list[Outcome], float]:
    outcomes: list[Outcome] = []
    # Set after BEFORE_SIGTERM answers, or once every client has stopped: then the
    # assertions on `outcomes` say why, instead of a bare timeout.
    enough = asyncio.Event()
    stopped = 0
    sigterm = float("inf")
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=DEADLINE, trust_env=False
    ) as client:

        async def one_client() -> None:
            nonlocal stopped
            try:
                await mint_until_refused()
            finally:
                stopped += 1
                if stopped == CLIENTS:
                    enough.set()

        async def mint_until_refused() -> None:
            # Keeps going after the signal until the server stops answering: load, not a drain.
            for token in tokens:
                written: list[float] = []
                try:
                    response = await client.post(
                        MINT, json={"token": token}, extensions={"trace": stamp(written)}
                    )
                    body = response.json()
                except httpx.TransportError as exc:
                    sent = written[0] if written else math.inf  # never fully sent
                    outcomes.append(Outcome(sent, time.monotonic(), None, False, repr(exc)))
                    return
                minted = response.status_code == 200 and isinstance(body.get("token"), str)
                done = time.monotonic()
                refusal = None if minted else response.text[:300]
                outcomes.append(Outcome(written[0], done, response.status_code, minted, refusal))
                if len(outcomes) >= BEFORE_SIGTERM:
                    enough.set()
                if not minted or process.poll() is not None:
                    return

        async with asyncio.TaskGroup() as group:
            for _ in range(CLIENTS):
                group.create_task(one_client())
            async with asyncio.timeout(DEADLINE):
                await enough.wait()
            sigterm = time.monotonic()
            process.send_signal(signal.SIGTERM)
    return outcomes, sigterm


def stamp(written: list[float]) -> Callable[[str, dict[str, object]], Awaitable[None]]:
    """An httpcore trace hook noting when the request's body was fully written."""

    async def trace(event: str, info: dict[str, object]) -> None:
        if event == "http11.send_request_body.complete":
            written.append(time.monotonic())

    return trace
