"""Redis killed (SIGKILL) and restarted on the same port while mints keep coming.

The claim under test: no token is minted without a replay record. Precisely:
- while Redis is down, every answer is 503 `service-unavailable` with
  `Retry-After` and no token, so nothing is minted that Redis did not record;
- every token minted before the kill has its record in the old Redis, and every
  token minted after the restart has its record in the new one, expiring at
  the OIDC token's `exp` plus the issuer's leeway; presenting any of the latter
  again is refused as a replay;
- a request refused with 503 did not burn its jti: the same token mints later;
- the app is never restarted: the first mint after Redis answers PING comes
  within a second, and every request sent after that point mints.

Requests in flight at the moment of the kill may end either way (200 if their
`SET NX` landed first, else 503); their records died with the old Redis, which
keeps no snapshot here. That is also why a token minted before the kill could
be presented again after the restart: replay records are only as durable as
the Redis that holds them (run it with persistence in production).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
import redis
from loadkit import MINT, Attempt, Stream, summary
from relkit import (
    EcIssuer,
    RedisServer,
    app_settings,
    jwks_server,
    redis_server,
    replay_record,
    write_config,
)

from service.app import create_app

pytestmark = pytest.mark.anyio

WORKERS = 8
LEEWAY = 30
BEFORE_KILL = 150  # answers before the kill: the stream is at full speed
WHILE_DOWN = 60  # answers to requests sent after Redis died, all of which must be 503
AFTER_RESTART = 150
RECOVERY = 1.0  # seconds from Redis answering PING to the first mint


def check_records(client: redis.Redis, minted: list[Attempt], issuer: str) -> None:
    pipe = client.pipeline(transaction=False)
    for attempt in minted:
        pipe.expiretime(replay_record(issuer, attempt.claims))
    expiries = pipe.execute()
    wrong = [
        (a.claims["jti"], expiry)
        for a, expiry in zip(minted, expiries, strict=True)
        if expiry != a.claims["exp"] + LEEWAY
    ]
    assert not wrong, f"{len(wrong)} minted tokens without their replay record: {wrong[:3]}"


async def test_redis_killed_and_restarted_mid_load(tmp_path: Path) -> None:
    issuer = EcIssuer()
    # Enough tokens for every phase; the stream is bounded by them whatever happens.
    tokens = iter([issuer.token() for _ in range(6000)])
    with jwks_server(issuer) as jwks, redis_server(tmp_path / "redis.log") as server:
        files = write_config(tmp_path, jwks.url, leeway=LEEWAY)
        app = create_app(app_settings(files, redis_url=server.url))
        inspect = redis.Redis.from_url(server.url, socket_timeout=2)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client,
        ):
            stream = Stream(client, tokens)
            async with asyncio.TaskGroup() as group:
                for _ in range(WORKERS):
                    group.create_task(stream.worker())
                try:
                    phases = await drive(stream, server, client, inspect, issuer.url)
                finally:
                    stream.stopped.set()
            await check_after(stream, phases, client, inspect, issuer.url)
        inspect.close()


async def drive(
    stream: Stream, server: RedisServer, client: httpx.AsyncClient, inspect: redis.Redis, iss: str
) -> dict[str, float]:
    await stream.until(lambda a: len(a) >= BEFORE_KILL, "streaming", within=30)
    snapshot = time.monotonic()
    early = [a for a in stream.attempts if a.done < snapshot]
    assert all(a.minted() for a in early), summary(early)
    # Checked in the old Redis before it dies: these records exist nowhere after the kill.
    check_records(inspect, early, iss)
    killing = time.monotonic()
    await anyio.to_thread.run_sync(server.kill)
    killed = time.monotonic()

    def down_answers(attempts: list[Attempt]) -> bool:
        return sum(a.sent >= killed for a in attempts) >= WHILE_DOWN

    await stream.until(down_answers, f"{WHILE_DOWN} answers while Redis is down", within=30)
    ready = await client.get("/readyz")
    assert ready.status_code == 503, ready.text
    restarting = time.monotonic()
    pinged = await anyio.to_thread.run_sync(server.start)
    await stream.until(
        lambda a: any(x.minted() and x.done >= pinged for x in a), "minting again", within=10
    )
    first = min(a.done for a in stream.attempts if a.minted() and a.done >= pinged)

    def after_restart(attempts: list[Attempt]) -> bool:
        return sum(a.sent >= first for a in attempts) >= AFTER_RESTART

    await stream.until(after_restart, "streaming after the restart", within=30)
    return {
        "snapshot": snapshot,
        "killing": killing,
        "killed": killed,
        "restarting": restarting,
        "pinged": pinged,
        "first": first,
    }


async def check_after(
    stream: Stream,
    t: dict[str, float],
    client: httpx.AsyncClient,
    inspect: redis.Redis,
    iss: str,
) -> None:
    attempts = stream.attempts
    assert {a.status for a in attempts} <= {200, 503}, summary(attempts)
    for attempt in attempts:
        if attempt.status == 503:
            assert attempt.code() == "service-unavailable", attempt.body
            assert "token" not in attempt.body
            assert attempt.headers.get("retry-after") == "5"

    in_flight = [a for a in attempts if a.sent < t["killed"] and a.done >= t["snapshot"]]
    down = [a for a in attempts if a.sent >= t["killed"] and a.done < t["restarting"]]
    after = [a for a in attempts if a.sent >= t["pinged"]]
    assert len(down) >= WHILE_DOWN
    assert not [a for a in down if a.status != 503], summary(down)
    assert all(a.minted() for a in after), summary(after)
    assert t["first"] - t["pinged"] < RECOVERY, f"first mint {t['first'] - t['pinged']:.3f}s late"

    minted = [a for a in attempts if a.minted()]
    jtis = [a.claims["jti"] for a in minted]
    assert len(set(jtis)) == len(jtis), "one OIDC token minted twice"
    # Whatever was sent after the kill and minted holds its record in the new Redis: its
    # SET NX could land nowhere else. (A request sent before the kill may be answered after
    # the restart, its record in the old Redis: the mint's record is written to the
    # database before the answer, and this outage can be shorter than that write.)
    restarted = [a for a in minted if a.sent >= t["killed"]]
    assert len(restarted) >= AFTER_RESTART
    check_records(inspect, restarted, iss)
    # In-flight requests at the kill may have gone either way; nothing else is unaccounted for.
    before = [a for a in minted if a.done < t["snapshot"]]
    assert len(minted) == len(before) + sum(a.minted() for a in in_flight) + len(restarted)

    # Single use holds in the new Redis for everything it recorded ...
    replays = await post_all(client, [a.token for a in restarted])
    codes = {(r.status_code, r.json()["errors"][0]["code"]) for r in replays}
    assert codes == {(422, "invalid-reuse-token")}
    # ... and a 503 burned nothing: the refused tokens mint now, once.
    retried = await post_all(client, [a.token for a in down])
    assert [r.status_code for r in retried] == [200] * len(down), retried[0].text
    check_records(inspect, down, iss)
    assert (await client.get("/readyz")).status_code == 200


async def post_all(client: httpx.AsyncClient, tokens: list[str]) -> list[httpx.Response]:
    """As many at a time as the stream had: this suite is about Redis dying, not bursts."""
    gate = asyncio.Semaphore(WORKERS)

    async def post(token: str) -> httpx.Response:
        async with gate:
            return await client.post(MINT, json={"token": token})

    return await asyncio.gather(*(post(token) for token in tokens))
