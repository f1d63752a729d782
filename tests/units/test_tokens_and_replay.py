"""Minted token format, and the in-process replay store."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from fakeissuer import NOW, Clock

from service.minting.keys import ephemeral_signing_keys
from service.minting.tokens import PREFIX, Grant, Minter, checksum, serialize, unwrap
from service.replay import MemoryReplayStore, RedisReplayStore, ReplayUnavailable

pytestmark = pytest.mark.anyio


def minted_token() -> str:
    minter = Minter(ephemeral_signing_keys(), issuer="https://m.example", audience="up", ttl=900)
    grant = Grant(
        subject="github:x",
        provider="github",
        projects=["b", "a", "a"],
        publishers=["p"],
        provenance={},
    )
    minted = minter.mint(grant, now=NOW)
    assert minted.projects == ("a", "b")
    assert minted.expires == NOW + 900
    return minted.token


def test_minted_token_carries_prefix_and_checksum() -> None:
    token = minted_token()
    assert token.startswith(PREFIX)
    inner = unwrap(token)
    assert inner is not None
    assert serialize(inner) == token


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t.replace(PREFIX, "pypi-", 1),
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: (
            t[: len(PREFIX) + 5]
            + ("x" if t[len(PREFIX) + 5] != "x" else "y")
            + t[len(PREFIX) + 6 :]
        ),
        lambda t: t.rsplit("_", 1)[0],
        lambda t: PREFIX,
    ],
    ids=["wrong-prefix", "checksum-flipped", "body-flipped", "checksum-missing", "prefix-only"],
)
def test_mangled_token_fails_the_offline_check(mangle: object) -> None:
    assert callable(mangle)
    assert unwrap(mangle(minted_token())) is None


def test_checksum_is_six_base62_characters() -> None:
    assert len(checksum("")) == 6
    assert checksum("abc").isalnum()
    assert checksum("abc") != checksum("abd")


async def test_memory_store_refuses_second_use_until_expiry() -> None:
    clock = Clock()
    store = MemoryReplayStore(max_entries=10, clock=clock)
    assert await store.consume("iss", "jti", until=NOW + 60)
    assert not await store.consume("iss", "jti", until=NOW + 60)
    assert await store.consume("other-iss", "jti", until=NOW + 60)
    clock.advance(59)
    assert not await store.consume("iss", "jti", until=NOW + 60)
    clock.advance(2)
    assert await store.consume("iss", "jti", until=NOW + 200)


async def test_full_memory_store_fails_closed_instead_of_evicting() -> None:
    clock = Clock()
    store = MemoryReplayStore(max_entries=2, clock=clock)
    assert await store.consume("iss", "a", until=NOW + 60)
    assert await store.consume("iss", "b", until=NOW + 120)
    with pytest.raises(ReplayUnavailable):
        await store.consume("iss", "c", until=NOW + 60)
    assert not await store.consume("iss", "a", until=NOW + 60)  # still remembered
    clock.advance(61)  # "a" has expired: its slot may be reused
    assert await store.consume("iss", "c", until=NOW + 180)


async def test_a_released_record_may_be_consumed_once_more() -> None:
    clock = Clock()
    store = MemoryReplayStore(max_entries=10, clock=clock)
    assert await store.consume("iss", "jti", until=NOW + 60)
    await store.release("iss", "jti")
    await store.release("iss", "never-seen")  # nothing to forget: no error
    assert await store.consume("iss", "jti", until=NOW + 90)
    assert not await store.consume("iss", "jti", until=NOW + 90)
    clock.advance(61)  # the first record's expiry passes: the second still holds
    assert not await store.consume("iss", "jti", until=NOW + 90)


@pytest.mark.redis
async def test_redis_release_forgets_only_that_record(redis: Any) -> None:
    store = RedisReplayStore(redis)
    jti, other = f"release-{uuid.uuid4()}", f"kept-{uuid.uuid4()}"
    assert await store.consume("iss", jti, until=int(time.time()) + 60)
    assert await store.consume("iss", other, until=int(time.time()) + 60)
    await store.release("iss", jti)
    assert await store.consume("iss", jti, until=int(time.time()) + 60)
    assert not await store.consume("iss", other, until=int(time.time()) + 60)
    await store.release("iss", jti)
    await store.release("iss", other)
