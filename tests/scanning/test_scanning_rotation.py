"""GitHub rotating its scanning key right after we fetched (issue 21, finding 5).

The same rule as jwks_cache: only a refetch an unknown identifier caused arms
the cooldown. The first fetch and TTL refreshes must not, or a report signed
with a key GitHub rotated in within a minute of our fetch is refused (401) for
that minute. Injected clock, no sleeps.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fakeissuer import Clock

from service.scanning.cache import PublicKeyCache
from service.scanning.keys import Fetched, KeyDocumentError, NotModified, UnknownKey

pytestmark = pytest.mark.anyio

TTL, COOLDOWN = 600.0, 60.0


class Keys:
    """A fetcher over a dict the test rotates; counts every fetch."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {"old": ec.generate_private_key(ec.SECP256R1()).public_key()}
        self.calls = 0
        self.fail = False
        self.gate: asyncio.Event | None = None
        self.started = asyncio.Event()

    def rotate(self, identifier: str) -> None:
        self.keys[identifier] = ec.generate_private_key(ec.SECP256R1()).public_key()

    async def fetch(self, etag: str | None) -> Fetched | NotModified:
        self.calls += 1
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise KeyDocumentError("down")
        return Fetched(keys=dict(self.keys), etag=None)


@pytest.fixture
def source() -> Keys:
    return Keys()


@pytest.fixture
def cache(source: Keys, clock: Clock) -> PublicKeyCache:
    return PublicKeyCache(source, clock=clock, ttl=TTL, cooldown=COOLDOWN)


async def test_rotation_right_after_the_first_fetch_is_picked_up_at_once(
    source: Keys, cache: PublicKeyCache, clock: Clock
) -> None:
    await cache.get("old")  # t=0: first use
    clock.advance(10)
    source.rotate("new")  # t=10
    clock.advance(1)
    assert await cache.get("new") is not None  # t=11
    assert source.calls == 2


async def test_rotation_right_after_a_ttl_refresh_is_picked_up_at_once(
    source: Keys, cache: PublicKeyCache, clock: Clock
) -> None:
    await cache.get("old")
    clock.advance(TTL)
    await cache.get("old")  # t=T: the TTL refresh
    assert source.calls == 2
    clock.advance(10)
    source.rotate("new")
    clock.advance(1)
    await cache.get("new")
    assert source.calls == 3


async def test_a_hundred_sprayed_identifiers_within_the_cooldown_cost_one_fetch(
    source: Keys, cache: PublicKeyCache, clock: Clock
) -> None:
    await cache.get("old")
    for i in range(100):
        with pytest.raises(UnknownKey):
            await cache.get(f"sprayed-{i}")
        clock.advance(0.5)
    assert source.calls == 2
    source.rotate("new")  # the spray armed the cooldown: a real rotation waits it out
    with pytest.raises(UnknownKey):
        await cache.get("new")
    clock.advance(10)
    await cache.get("new")
    assert source.calls == 3


async def test_concurrent_waiters_for_one_new_identifier_share_one_fetch(
    source: Keys, cache: PublicKeyCache, clock: Clock
) -> None:
    await cache.get("old")
    clock.advance(11)
    source.rotate("new")
    source.started.clear()
    source.gate = asyncio.Event()
    waiters = asyncio.gather(*(cache.get("new") for _ in range(50)))
    # Either the fetch starts or the waiters are refused without one: never a hang.
    await asyncio.wait([asyncio.ensure_future(source.started.wait()), waiters],
                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
    source.gate.set()
    assert len({id(key) for key in await waiters}) == 1
    assert source.calls == 2


async def test_stale_keys_still_verify_while_github_is_down(
    source: Keys, cache: PublicKeyCache, clock: Clock
) -> None:
    old = await cache.get("old")
    source.fail = True
    clock.advance(TTL + 1)
    assert await cache.get("old") is old
    assert source.calls == 2
