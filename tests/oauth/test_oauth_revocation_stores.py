"""Revocation stores, and the verifier refusing revoked tokens: in memory and in the real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from fakeissuer import NOW, Clock

from service.minting.keys import ephemeral_signing_keys
from service.oauth.authority import OwnKeys
from service.revocation import (
    MemoryRevocationStore,
    RedisRevocationStore,
    RevocationStore,
    RevocationUnavailable,
    revocation_key,
)
from service.verifier import VerifiedToken, Verifier, registry_verifier

pytestmark = pytest.mark.anyio


def dead_redis() -> aioredis.Redis:
    return aioredis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.5, socket_timeout=0.5
    )


@pytest.fixture
async def forget(redis: aioredis.Redis) -> AsyncIterator[list[str]]:
    """Token ids whose revocation records this test leaves in the shared Redis."""
    ids: list[str] = []
    yield ids
    if ids:
        await redis.delete(*(revocation_key(i) for i in ids))


async def test_memory_store_forgets_a_revocation_after_until(clock: Clock) -> None:
    store = MemoryRevocationStore(clock=clock)
    await store.revoke("jti-1", until=NOW + 10)
    assert await store.is_revoked("jti-1")
    assert not await store.is_revoked("jti-2")
    clock.advance(10)
    assert await store.is_revoked("jti-1")
    clock.advance(1)
    assert not await store.is_revoked("jti-1")


async def test_full_memory_store_refuses_rather_than_forget_a_live_revocation(
    clock: Clock,
) -> None:
    store = MemoryRevocationStore(clock=clock, max_entries=2)
    await store.revoke("a", until=NOW + 10)
    await store.revoke("b", until=NOW + 100)
    with pytest.raises(RevocationUnavailable):
        await store.revoke("c", until=NOW + 100)
    await store.revoke("a", until=NOW + 20)  # already held: no new slot needed
    assert await store.is_revoked("a")
    assert await store.is_revoked("b")
    clock.advance(21)  # "a" has expired: its slot is free again
    await store.revoke("c", until=NOW + 100)
    assert await store.is_revoked("c")
    assert not await store.is_revoked("a")


@pytest.mark.redis
async def test_redis_store_keeps_a_hashed_key_until_exat(
    redis: aioredis.Redis, forget: list[str]
) -> None:
    store = RedisRevocationStore(redis)
    forget.append("jti-redis-1")
    await store.revoke("jti-redis-1", until=NOW + 900)
    key = revocation_key("jti-redis-1")
    assert "jti-redis-1" not in key
    assert await redis.expiretime(key) == NOW + 900
    assert await store.is_revoked("jti-redis-1")
    assert not await store.is_revoked("jti-redis-never")


@pytest.mark.redis
async def test_redis_down_is_unavailable_for_both_operations() -> None:
    dead = dead_redis()
    store = RedisRevocationStore(dead)
    with pytest.raises(RevocationUnavailable):
        await store.revoke("x", until=NOW + 10)
    with pytest.raises(RevocationUnavailable):
        await store.is_revoked("x")
    await dead.aclose()


def verifier(oauth: Any, store: RevocationStore | None, clock: Clock) -> Verifier:
    keys = OwnKeys(oauth.keys, issuer=oauth.service)
    return Verifier(
        keys, issuer=oauth.service, audience="mintgate-upload", clock=clock, revocations=store
    )


async def test_verifier_refuses_a_revoked_token_and_its_narrowed_copies(
    oauth: Any, clock: Clock
) -> None:
    store = MemoryRevocationStore(clock=clock)
    token = oauth.mint(["sampleproject"])
    check = verifier(oauth, store, clock)
    verified = await check.verify(token, "sampleproject")
    assert isinstance(verified, VerifiedToken)
    await store.revoke(verified.jti, until=verified.expires)
    refused = await check.verify(token, "sampleproject")
    assert getattr(refused, "code", None) == "token-revoked"
    assert getattr(await check.inspect(token), "code", None) == "token-revoked"


class CountingStore(MemoryRevocationStore):
    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock)
        self.asked = 0

    async def is_revoked(self, token_id: str) -> bool:
        self.asked += 1
        return await super().is_revoked(token_id)


async def test_out_of_scope_token_is_refused_before_the_store_is_asked(
    oauth: Any, clock: Clock
) -> None:
    store = CountingStore(clock)
    check = verifier(oauth, store, clock)
    refused = await check.verify(oauth.mint(["sampleproject"]), "other")
    assert getattr(refused, "code", None) == "project-not-in-scope"
    forged = await check.verify(oauth.mint(keys=ephemeral_signing_keys()), "sampleproject")
    assert getattr(forged, "code", None) == "invalid-token"
    assert store.asked == 0


@pytest.mark.redis
async def test_verifier_fails_closed_when_redis_is_down(oauth: Any, clock: Clock) -> None:
    dead = dead_redis()
    refusal = await verifier(oauth, RedisRevocationStore(dead), clock).verify(
        oauth.mint(["sampleproject"]), "sampleproject"
    )
    await dead.aclose()
    assert getattr(refusal, "code", None) == "service-unavailable"


@pytest.mark.redis
async def test_oauth_endpoints_answer_503_when_redis_is_down(oauth: Any) -> None:
    dead = dead_redis()
    token = oauth.mint()
    async with oauth.app(redis=dead) as client:
        introspected = await oauth.introspect(client, token)
        revoked = await oauth.revoke(client, token)
        exchanged = await oauth.exchange(client, token)
    await dead.aclose()
    for response in (introspected, revoked, exchanged):
        assert response.status_code == 503
        assert response.json()["error"] == "temporarily_unavailable"
        assert response.headers["retry-after"] == "5"
    assert "access_token" not in exchanged.json()


@pytest.mark.redis
async def test_revocation_on_one_replica_holds_on_another_at_once(
    oauth: Any, redis: aioredis.Redis, clock: Clock, forget: list[str]
) -> None:
    token = oauth.mint(["sampleproject"])
    forget.append(oauth.claims(token)["jti"])
    async with oauth.app(redis=redis) as one, oauth.app(redis=redis) as two:
        registry = registry_verifier(
            oauth.service,
            "mintgate-upload",
            two,
            allow_loopback_http=True,
            clock=clock,
            revocations=RedisRevocationStore(redis),
        )
        assert isinstance(await registry.verify(token, "sampleproject"), VerifiedToken)
        assert await oauth.active(two, token)  # both replicas have now answered "good"
        assert (await oauth.revoke(one, token)).status_code == 200
        refused = await registry.verify(token, "sampleproject")
        still_active = await oauth.active(two, token)
    assert getattr(refused, "code", None) == "token-revoked"
    assert not still_active
    # The record outlives exp by the widest verifier leeway.
    expires_at = await redis.expiretime(revocation_key(oauth.claims(token)["jti"]))
    assert expires_at == oauth.claims(token)["exp"] + 300


@pytest.mark.redis
async def test_revoked_parent_kills_a_child_checked_on_another_replica(
    oauth: Any, redis: aioredis.Redis, forget: list[str]
) -> None:
    parent = oauth.mint()
    forget.append(oauth.claims(parent)["jti"])
    async with oauth.app(redis=redis) as one, oauth.app(redis=redis) as two:
        response = await oauth.exchange(one, parent, scope="project:sampleproject")
        child = response.json()["access_token"]
        assert await oauth.active(two, child)
        await oauth.revoke(two, parent)
        assert not await oauth.active(one, child)
