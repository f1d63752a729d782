"""A Redis that accepts and never answers (the process stopped): 503 within the bound, then back.

The service's Redis client bounds each command as a whole (service/redisclient.py)
instead of each socket read and write. This holds it to what the socket timeouts
gave: a hung Redis costs a quick 503 and no token, and once Redis answers again
every command reads its own reply: the one a timed-out command left behind is
never handed to the next.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from loadkit import MINT
from relkit import EcIssuer, app_settings, jwks_server, redis_server, write_config

from service.app import Overrides, create_app
from service.redisclient import redis_client

pytestmark = pytest.mark.anyio

BOUND = 0.3  # seconds per command in this test (the service's default is seconds)


async def test_hung_redis_answers_503_within_the_bound_and_recovers(tmp_path: Path) -> None:
    issuer = EcIssuer()
    with jwks_server(issuer) as jwks, redis_server(tmp_path / "redis.log") as server:
        redis = redis_client(server.url, command_timeout=BOUND)
        settings = app_settings(write_config(tmp_path, jwks.url), redis_url=server.url)
        app = create_app(settings, Overrides(redis=redis))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client,
        ):
            await redis.set("mark", b"before")
            assert (await client.post(MINT, json={"token": issuer.token()[0]})).status_code == 200

            server.pause()
            try:
                hung, _ = issuer.token()
                started = time.monotonic()
                refused = await client.post(MINT, json={"token": hung})
                waited = time.monotonic() - started
                with pytest.raises(TimeoutError):
                    await redis.set("mark", b"during")
            finally:
                server.resume()

            assert refused.status_code == 503, refused.text
            assert refused.json()["errors"][0]["code"] == "service-unavailable"
            assert "token" not in refused.json()
            assert waited < BOUND + 2, f"a hung Redis held the mint {waited:.1f}s"

            # The replies the timed-out commands left behind are never read as another's.
            # (Whether the timed-out SET ran depends on when the stopped server read it.)
            assert await redis.get("mark") in (b"before", b"during")
            assert await redis.set("mark", b"after") is True
            assert await redis.get("mark") == b"after"
            # A command that timed out may still have run once Redis woke (as with any
            # timeout): the refused token is then spent. Either way it is never minted twice.
            retried = await client.post(MINT, json={"token": hung})
            assert retried.status_code == 200 or retried.json()["errors"][0]["code"] == (
                "invalid-reuse-token"
            )
            assert (await client.post(MINT, json={"token": issuer.token()[0]})).status_code == 200
        await redis.aclose()
