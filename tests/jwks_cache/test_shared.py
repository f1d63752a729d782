"""The Redis second level, against the real Redis at MINTGATE_TEST_REDIS_URL (never skipped)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
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

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(REDIS_URL)
    await client.ping()  # no Redis is a failure, not a skip
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis_client: redis.asyncio.Redis) -> AsyncIterator[str]:
    prefix = f"mintgate:jwks:test:{uuid.uuid4().hex}:"
    yield prefix
    # Only this test's keys: the database may be shared with other tests and other rooms.
    stale = [key async for key in redis_client.scan_iter(match=prefix + "*")]
    if stale:
        await redis_client.delete(*stale)


@pytest.fixture
def doc(kit: Any, rsa_key: Any) -> bytes:
    return bytes(kit.jwks(kit.public_jwk(rsa_key, "r1")))


def replica(kit: Any, client: httpx.AsyncClient, clock: Any, shared: Any) -> JWKSCache:
    source = IssuerSource(kit.ISSUER, jwks_uri=kit.JWKS_URL)
    return JWKSCache([source], HttpKeyFetcher(client), clock=clock, shared=shared)


async def test_second_replica_gets_keys_from_redis_without_fetching(
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: Any,
    redis_client: redis.asyncio.Redis,
    prefix: str,
    doc: bytes,
    rsa_key: Any,
) -> None:
    route = kit.serve_jwks(router, doc, headers={"Cache-Control": "max-age=120"})
    first = replica(kit, client, clock, RedisSharedKeys(redis_client, prefix=prefix))
    await first.get_key(kit.ISSUER, "r1")
    assert route.call_count == 1
    ttl = await redis_client.ttl(prefix + kit.ISSUER)
    assert 0 < ttl <= 120

    clock.advance(30)
    second = replica(kit, client, clock, RedisSharedKeys(redis_client, prefix=prefix))
    key = await second.get_key(kit.ISSUER, "r1")
    assert route.call_count == 1
    assert (second.stats.shared_hits, second.stats.fetches) == (1, 0)
    claims = jwt.decode(kit.sign(rsa_key, "r1"), key.key, algorithms=["RS256"])
    assert claims["iss"] == kit.ISSUER

    # The shared document keeps its original age: fresh for the remaining 90s only.
    clock.advance(89)
    await second.get_key(kit.ISSUER, "r1")
    assert route.call_count == 1
    clock.advance(1)
    await second.get_key(kit.ISSUER, "r1")
    assert route.call_count == 2


async def test_expired_shared_document_sends_the_replica_upstream(
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: Any,
    redis_client: redis.asyncio.Redis,
    prefix: str,
    doc: bytes,
) -> None:
    shared = RedisSharedKeys(redis_client, prefix=prefix)
    await shared.save(kit.ISSUER, SharedDocument(doc, fetched_at=clock() - 300, ttl=300))
    route = kit.serve_jwks(router, doc)
    cache = replica(kit, client, clock, shared)
    await cache.get_key(kit.ISSUER, "r1")
    assert (route.call_count, cache.stats.shared_hits) == (1, 0)


@pytest.mark.parametrize(
    "stored",
    [
        b"garbage",
        b"nan\n300\n%doc",
        b"%f\ninf\n%doc",
        b"%f\n300\n{not json",
        b'%f\n300\n{"keys": [{"kty": "oct", "kid": "r1", "k": "c2VjcmV0"}]}',
    ],
    ids=["no-header", "nan-timestamp", "infinite-ttl", "bad-json", "hs-secret"],
)
async def test_malformed_or_poisoned_shared_entry_is_ignored(
    stored: bytes,
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: Any,
    redis_client: redis.asyncio.Redis,
    prefix: str,
    doc: bytes,
) -> None:
    # Placeholders: a current timestamp and a valid document, so only the header is wrong.
    stored = stored.replace(b"%f", repr(clock()).encode()).replace(b"%doc", doc)
    await redis_client.set(prefix + kit.ISSUER, stored, ex=60)
    route = kit.serve_jwks(router, doc)
    cache = replica(kit, client, clock, RedisSharedKeys(redis_client, prefix=prefix))
    key = await cache.get_key(kit.ISSUER, "r1")
    assert key.kty == "RSA"
    assert (route.call_count, cache.stats.shared_hits) == (1, 0)
    # The good upstream document replaced the junk for the next replica.
    assert await redis_client.get(prefix + kit.ISSUER) != stored


async def test_shared_document_older_than_ours_is_not_used(
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: Any,
    redis_client: redis.asyncio.Redis,
    prefix: str,
    rsa_key: Any,
    rsa_key2: Any,
) -> None:
    shared = RedisSharedKeys(redis_client, prefix=prefix)
    route = kit.serve_jwks(
        router, kit.jwks(kit.public_jwk(rsa_key, "r1"), kit.public_jwk(rsa_key2, "r2"))
    )
    cache = replica(kit, client, clock, shared)
    await cache.get_key(kit.ISSUER, "r1")
    # Someone writes an older document (a replica with a slow fetch): it must not roll back.
    old = kit.jwks(kit.public_jwk(rsa_key, "r1"))
    await shared.save(kit.ISSUER, SharedDocument(old, fetched_at=clock() - 10, ttl=300))
    clock.advance(61)
    with pytest.raises(KeyNotFound, match="'r3'"):
        await cache.get_key(kit.ISSUER, "r3")  # unknown kid: a refresh that skips the old doc
    assert route.call_count == 2
    assert (await cache.get_key(kit.ISSUER, "r2")).kid == "r2"


async def test_redis_outage_does_not_break_get_key(
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    clock: Any,
    doc: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0")
    try:
        cache = replica(kit, client, clock, RedisSharedKeys(dead, prefix="mintgate:jwks:dead:"))
        route = kit.serve_jwks(router, doc)
        assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"
        assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"
        assert route.call_count == 1
        assert (cache.stats.fetches, cache.stats.shared_hits) == (1, 0)
        clock.advance(300)
        assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"
        assert route.call_count == 2
        # The store was really tried (and failed) on both levels of the way.
        assert (
            "shared JWKS load for https://token.example.com failed: ConnectionError" in caplog.text
        )
        assert (
            "shared JWKS save for https://token.example.com failed: ConnectionError" in caplog.text
        )
    finally:
        await dead.aclose()


async def test_redis_outage_with_issuer_down_still_serves_stale_keys(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, clock: Any, doc: bytes
) -> None:
    dead = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0")
    try:
        cache = replica(kit, client, clock, RedisSharedKeys(dead))
        route = kit.serve_jwks(router, doc)
        good = await cache.get_key(kit.ISSUER, "r1")
        clock.advance(301)
        route.side_effect = httpx.ConnectError("refused")
        assert await cache.get_key(kit.ISSUER, "r1") is good
        assert cache.stats.stale_serves == 1
    finally:
        await dead.aclose()
