"""Key rotation right after a fetch (issue 21, finding 5).

Only a refetch an unknown kid caused may arm the unknown-kid cooldown: the
first fetch and TTL refreshes must not, or an issuer rotating within a minute
of our fetch gets every token with its new kid refused for that minute.
Injected clock, no sleeps.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio
import respx
from testredis import REDIS_URL

from jwks_cache import (
    HttpKeyFetcher,
    IssuerSource,
    JWKSCache,
    KeyNotFound,
    RedisSharedKeys,
    SharedDocument,
)

pytestmark = pytest.mark.anyio

TTL = 300  # the default ttl: no Cache-Control in these responses


@pytest.fixture
def cache(kit: Any, client: httpx.AsyncClient, clock: Any) -> JWKSCache:
    source = IssuerSource(kit.ISSUER, jwks_uri=kit.JWKS_URL)
    return JWKSCache([source], HttpKeyFetcher(client), clock=clock, unknown_kid_cooldown=60)


def _rotate(kit: Any, route: respx.Route, *keys: tuple[Any, str]) -> None:
    route.side_effect = kit.responder(kit.jwks(*(kit.public_jwk(k, kid) for k, kid in keys)))


async def _verifies(cache: JWKSCache, kit: Any, private: Any, kid: str) -> None:
    key = await cache.get_key(kit.ISSUER, kid)
    claims = jwt.decode(kit.sign(private, kid), key.key, algorithms=["RS256"])
    assert claims["iss"] == kit.ISSUER


async def test_rotation_right_after_the_first_fetch_is_picked_up_at_once(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, rsa_key: Any, rsa_key2: Any
) -> None:
    route = kit.serve_jwks(router, kit.jwks(kit.public_jwk(rsa_key, "r1")))
    await _verifies(cache, kit, rsa_key, "r1")  # t=0: first use, first fetch
    clock.advance(10)
    _rotate(kit, route, (rsa_key, "r1"), (rsa_key2, "r2"))  # t=10: the issuer rotates
    clock.advance(1)
    await _verifies(cache, kit, rsa_key2, "r2")  # t=11: the new kid
    assert route.call_count == 2
    assert cache.stats.cooldown_hits == 0


async def test_rotation_right_after_a_ttl_refresh_is_picked_up_at_once(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, rsa_key: Any, rsa_key2: Any
) -> None:
    route = kit.serve_jwks(router, kit.jwks(kit.public_jwk(rsa_key, "r1")))
    await cache.get_key(kit.ISSUER, "r1")
    clock.advance(TTL)
    await cache.get_key(kit.ISSUER, "r1")  # t=T: the TTL refresh
    assert route.call_count == 2
    clock.advance(10)
    _rotate(kit, route, (rsa_key2, "r2"))
    clock.advance(1)
    await _verifies(cache, kit, rsa_key2, "r2")
    assert route.call_count == 3
    assert cache.stats.cooldown_hits == 0


async def test_a_hundred_sprayed_kids_within_the_cooldown_cost_one_fetch(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, rsa_key: Any, rsa_key2: Any
) -> None:
    route = kit.serve_jwks(router, kit.jwks(kit.public_jwk(rsa_key, "r1")))
    await cache.get_key(kit.ISSUER, "r1")
    for i in range(100):
        with pytest.raises(KeyNotFound):
            await cache.get_key(kit.ISSUER, f"sprayed-{i}")
        clock.advance(0.5)  # 50s of spraying, inside one cooldown
    assert route.call_count == 2
    assert cache.stats.cooldown_hits == 99
    # The spray did arm the cooldown: a real rotation now waits for it to run out.
    _rotate(kit, route, (rsa_key, "r1"), (rsa_key2, "r2"))
    with pytest.raises(KeyNotFound):
        await cache.get_key(kit.ISSUER, "r2")
    assert route.call_count == 2
    clock.advance(10)
    await _verifies(cache, kit, rsa_key2, "r2")
    assert route.call_count == 3
    assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"


async def test_concurrent_waiters_for_one_new_kid_share_one_fetch_after_the_first(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, rsa_key: Any, rsa_key2: Any
) -> None:
    route = kit.serve_jwks(router, kit.jwks(kit.public_jwk(rsa_key, "r1")))
    await cache.get_key(kit.ISSUER, "r1")
    clock.advance(11)
    started, release = asyncio.Event(), asyncio.Event()
    rotated = kit.jwks(kit.public_jwk(rsa_key, "r1"), kit.public_jwk(rsa_key2, "r2"))

    async def slow_issuer(request: httpx.Request) -> httpx.Response:
        started.set()
        await release.wait()
        return kit.json_response(rotated)

    route.side_effect = slow_issuer
    waiters = asyncio.gather(*(cache.get_key(kit.ISSUER, "r2") for _ in range(50)))
    # Either the fetch starts or the waiters are refused without one: never a hang.
    await asyncio.wait([asyncio.ensure_future(started.wait()), waiters],
                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    release.set()
    keys = await waiters
    assert {k.kid for k in keys} == {"r2"}
    assert route.call_count == 2


async def test_stale_keys_still_served_while_the_issuer_is_down(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, rsa_key: Any
) -> None:
    route = kit.serve_jwks(router, kit.jwks(kit.public_jwk(rsa_key, "r1")))
    await cache.get_key(kit.ISSUER, "r1")
    route.side_effect = httpx.ConnectError("refused")
    with pytest.raises(KeyNotFound):  # a new kid while the issuer is down: one failed try
        await cache.get_key(kit.ISSUER, "r2")
    clock.advance(TTL + 1)
    await _verifies(cache, kit, rsa_key, "r1")
    assert cache.stats.stale_serves == 1
    assert (route.call_count, cache.stats.fetch_failures) == (3, 2)


@pytest.mark.redis
async def test_a_shared_document_from_before_the_rotation_does_not_hide_the_new_kid(
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: Any,
    rsa_key: Any,
    rsa_key2: Any,
) -> None:
    redis_client = redis.asyncio.Redis.from_url(REDIS_URL)
    await redis_client.ping()  # no Redis is a failure, not a skip
    prefix = f"mintgate:jwks:test:{uuid.uuid4().hex}:"
    try:
        shared = RedisSharedKeys(redis_client, prefix=prefix)
        source = IssuerSource(kit.ISSUER, jwks_uri=kit.JWKS_URL)
        cache = JWKSCache([source], HttpKeyFetcher(client), clock=clock, shared=shared)
        route = kit.serve_jwks(router, kit.jwks(kit.public_jwk(rsa_key, "r1")))
        await cache.get_key(kit.ISSUER, "r1")
        # Another replica fetched a moment later, still before the rotation.
        old = kit.jwks(kit.public_jwk(rsa_key, "r1"))
        await shared.save(kit.ISSUER, SharedDocument(old, fetched_at=clock() + 5, ttl=TTL))
        clock.advance(10)
        _rotate(kit, route, (rsa_key, "r1"), (rsa_key2, "r2"))
        clock.advance(1)
        await _verifies(cache, kit, rsa_key2, "r2")
        assert route.call_count == 2
    finally:
        stale = [key async for key in redis_client.scan_iter(match=prefix + "*")]
        if stale:
            await redis_client.delete(*stale)
        await redis_client.aclose()
