"""A burst of distinct, valid tokens on one process backed by Redis: every one mints.

Found while writing the Redis restart suite: redis-py 8's asyncio pool holds at
most 100 connections by default and, when all are busy, raises
`MaxConnectionsError` at once instead of waiting for one to free up. The replay
store reports that as "unavailable", so the 101st concurrent mint in one worker
is answered 503 although Redis is healthy. The fix belongs where the client is
built (`service.redisclient.redis_client`): a semaphore admits as many commands
as the client may hold connections, so a burst queues instead of failing, inside
the one bound each command has, and never opens more connections than that.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import redis
from loadkit import MINT
from relkit import EcIssuer, app_settings, jwks_server, redis_server, write_config

from service.app import create_app
from service.redisclient import MAX_CONNECTIONS

pytestmark = pytest.mark.anyio

# Three times the client's connections, twice the pool redis-py would hold without the fix.
# Not more: the burst is one process's CPU, and every command's 5 s bound includes its wait,
# so on a slow, shared core (two test workers) 400 at once ran past that bound.
BURST = 200


async def test_burst_of_concurrent_mints_on_redis_all_mint(tmp_path: Path) -> None:
    issuer = EcIssuer()
    tokens = [issuer.token()[0] for _ in range(BURST)]
    with jwks_server(issuer) as jwks, redis_server(tmp_path / "redis.log") as server:
        app = create_app(app_settings(write_config(tmp_path, jwks.url), redis_url=server.url))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client,
        ):
            # Keys first, so the burst is about Redis alone.
            warm, _ = issuer.token()
            assert (await client.post(MINT, json={"token": warm})).status_code == 200
            responses = await asyncio.gather(
                *(client.post(MINT, json={"token": token}) for token in tokens)
            )
            with redis.Redis.from_url(server.url) as watcher:
                # The app's pooled connections, and the watcher's own.
                connected = watcher.info("clients")["connected_clients"] - 1
    refused = [r.json()["errors"][0]["description"] for r in responses if r.status_code != 200]
    assert not refused, f"{len(refused)} of {BURST} refused, e.g. {refused[0]!r}"
    assert 0 < connected <= MAX_CONNECTIONS
