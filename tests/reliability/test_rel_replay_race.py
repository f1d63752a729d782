"""One OIDC token raced 1,000 times against two replicas (`mintgate serve`) on one Redis.

Two real processes, each with its own JWKS cache and Redis client, share only
the Redis the test starts: exactly one request may mint, and every other one
is refused without a token. All 1,000 requests are in flight together (one
connection each), so the replicas check the same jti at the same moment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis
from relkit import (
    EcIssuer,
    config_env,
    jwks_server,
    redis_server,
    replay_record,
    write_config,
)
from servers import mintgate_serve

from service.minting.keys import generate_pem

pytestmark = pytest.mark.anyio

RACERS = 1000
MINT = "/_/oidc/mint-token"


async def test_same_token_raced_against_two_replicas_mints_exactly_once(tmp_path: Path) -> None:
    issuer = EcIssuer()
    key = tmp_path / "signing.pem"
    key.write_bytes(generate_pem())
    with (
        jwks_server(issuer) as jwks,
        redis_server(tmp_path / "redis.log") as server,
        contextlib.ExitStack() as replicas,
    ):
        env = {
            **config_env(write_config(tmp_path, jwks.url)),
            "MINTGATE_REDIS_URL": server.url,
            "MINTGATE_SIGNING_KEY_FILES": str(key),
        }
        urls = [
            replicas.enter_context(mintgate_serve(env, log=tmp_path / f"replica-{n}.log"))
            for n in range(2)
        ]
        limits = httpx.Limits(max_connections=RACERS, max_keepalive_connections=RACERS)
        async with httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) as client:
            for url in urls:  # both replicas hold the issuer's keys before the race
                warm, _ = issuer.token()
                response = await client.post(url + MINT, json={"token": warm})
                assert response.status_code == 200, response.text
            token, claims = issuer.token()
            responses = await asyncio.gather(
                *(client.post(urls[n % 2] + MINT, json={"token": token}) for n in range(RACERS))
            )
        with redis.Redis.from_url(server.url) as inspect:
            record = inspect.exists(replay_record(issuer.url, claims))

    outcomes = Counter(
        (r.status_code, r.json()["errors"][0]["code"] if r.status_code != 200 else "minted")
        for r in responses
    )
    assert outcomes[200, "minted"] == 1, outcomes
    assert outcomes[422, "invalid-reuse-token"] == RACERS - 1, outcomes
    assert sum("token" in r.json() for r in responses) == 1
    assert record == 1
