"""JWKSCache over the real HttpKeyFetcher and httpx: issuers served by respx, a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import respx

from jwks_cache import (
    FetchedKeys,
    HttpKeyFetcher,
    IssuerSource,
    JWKSCache,
    KeyNotFound,
    KeysUnavailable,
    UnknownIssuer,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def doc(kit: Any, rsa_key: Any) -> bytes:
    return bytes(kit.jwks(kit.public_jwk(rsa_key, "r1")))


@pytest.fixture
def cache(kit: Any, client: httpx.AsyncClient, clock: Any) -> JWKSCache:
    return JWKSCache([IssuerSource(kit.ISSUER, jwks_uri=kit.JWKS_URL)], HttpKeyFetcher(client),
                     clock=clock)  # fmt: skip


async def test_fresh_keys_are_served_without_io(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, doc: bytes
) -> None:
    route = kit.serve_jwks(router, doc)
    first = await cache.get_key(kit.ISSUER, "r1")
    second = await cache.get_key(kit.ISSUER, "r1")
    assert second is first
    assert route.call_count == 1
    assert (cache.stats.fetches, cache.stats.hits) == (1, 1)


async def test_discovery_source_end_to_end(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, clock: Any, doc: bytes
) -> None:
    discovery = kit.serve_discovery(router)
    kit.serve_jwks(router, doc)
    cache = JWKSCache([IssuerSource(kit.ISSUER)], HttpKeyFetcher(client), clock=clock)
    assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"
    assert discovery.call_count == 1
    assert cache.issuers() == frozenset({kit.ISSUER})


@pytest.mark.parametrize(
    "issuer",
    [
        "https://token.example.com/",
        "https://TOKEN.example.com",
        "https://Token.Example.Com",
        "https://token.example.com ",
        "http://token.example.com",
        "https://token.example.com.evil.example",
        "",
    ],
    ids=["trailing-slash", "upper-host", "mixed-case", "trailing-space", "http", "suffix", "empty"],
)
async def test_unconfigured_issuer_is_unknown_and_nothing_is_fetched(
    issuer: str, kit: Any, router: respx.MockRouter, cache: JWKSCache, doc: bytes
) -> None:
    kit.serve_jwks(router, doc)
    kit.serve_discovery(router)
    with pytest.raises(UnknownIssuer):
        await cache.get_key(issuer, "r1")
    assert not router.calls
    assert cache.stats.fetches == 0


async def test_unknown_issuer_after_warmup_is_still_unknown(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, doc: bytes
) -> None:
    kit.serve_jwks(router, doc)
    await cache.get_key(kit.ISSUER, "r1")
    with pytest.raises(UnknownIssuer):
        await cache.get_key(kit.ISSUER + "/", "r1")
    assert len(router.calls) == 1


@pytest.mark.parametrize(
    ("cache_control", "ttl"),
    [
        (None, 300),
        ("max-age=120", 120),
        ("max-age=5", 60),
        ("max-age=999999", 3600),
        ("no-store", 60),
    ],
    ids=["default", "honoured", "clamped-up", "clamped-down", "no-store"],
)
async def test_cache_control_max_age_is_honoured_and_clamped(
    cache_control: str | None,
    ttl: int,
    kit: Any,
    router: respx.MockRouter,
    cache: JWKSCache,
    clock: Any,
    doc: bytes,
) -> None:
    headers = {"Cache-Control": cache_control} if cache_control else None
    route = kit.serve_jwks(router, doc, headers=headers)
    await cache.get_key(kit.ISSUER, "r1")
    clock.advance(ttl - 0.5)
    await cache.get_key(kit.ISSUER, "r1")
    assert route.call_count == 1
    clock.advance(0.5)
    await cache.get_key(kit.ISSUER, "r1")
    assert route.call_count == 2
    assert cache.stats.stale_serves == 0


@pytest.mark.parametrize("warm", [False, True], ids=["cold-cache", "rotation-to-new-kid"])
async def test_hundred_concurrent_callers_share_one_fetch(
    warm: bool,
    kit: Any,
    router: respx.MockRouter,
    cache: JWKSCache,
    clock: Any,
    rsa_key: Any,
    rsa_key2: Any,
) -> None:
    route = kit.serve_jwks(router, kit.jwks(kit.public_jwk(rsa_key, "r1")))
    if warm:
        await cache.get_key(kit.ISSUER, "r1")
        clock.advance(61)  # still fresh, past the unknown-kid cooldown
    started, release = asyncio.Event(), asyncio.Event()
    rotated = kit.jwks(kit.public_jwk(rsa_key, "r1"), kit.public_jwk(rsa_key2, "r2"))

    async def slow_issuer(request: httpx.Request) -> httpx.Response:
        started.set()
        await release.wait()
        return kit.json_response(rotated)

    route.side_effect = slow_issuer
    calls_before = route.call_count
    waiters = [asyncio.create_task(cache.get_key(kit.ISSUER, "r2")) for _ in range(100)]
    await started.wait()
    # Every waiter ran its first step before the fetch task did; none can finish yet.
    assert not any(w.done() for w in waiters)
    release.set()
    keys = await asyncio.gather(*waiters)
    assert route.call_count - calls_before == 1
    assert {k.kid for k in keys} == {"r2"}
    assert all(k is keys[0] for k in keys)


async def test_cancelled_waiter_does_not_cancel_the_shared_fetch(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, doc: bytes
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_issuer(request: httpx.Request) -> httpx.Response:
        started.set()
        await release.wait()
        return kit.json_response(doc)

    route = router.get(kit.JWKS_URL).mock(side_effect=slow_issuer)
    impatient = asyncio.create_task(cache.get_key(kit.ISSUER, "r1"))
    patient = asyncio.create_task(cache.get_key(kit.ISSUER, "r1"))
    await started.wait()
    impatient.cancel()
    with pytest.raises(asyncio.CancelledError):
        await impatient
    release.set()
    assert (await patient).kid == "r1"
    assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"
    assert route.call_count == 1


async def test_fetch_survives_when_every_waiter_gives_up(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, doc: bytes
) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_issuer(request: httpx.Request) -> httpx.Response:
        started.set()
        await release.wait()
        return kit.json_response(doc)

    route = router.get(kit.JWKS_URL).mock(side_effect=slow_issuer)
    only = asyncio.create_task(cache.get_key(kit.ISSUER, "r1"))
    await started.wait()
    only.cancel()
    with pytest.raises(asyncio.CancelledError):
        await only
    release.set()
    assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"
    assert route.call_count == 1


async def test_unknown_kid_refetches_at_most_once_per_cooldown(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, doc: bytes
) -> None:
    route = kit.serve_jwks(router, doc)
    await cache.get_key(kit.ISSUER, "r1")
    # The first fetch does not arm the cooldown (see test_rotation.py): the first
    # unknown kid refetches, and only that refetch starts it.
    with pytest.raises(KeyNotFound, match="'sprayed-0'"):
        await cache.get_key(kit.ISSUER, "sprayed-0")
    with pytest.raises(KeyNotFound, match="'sprayed-1'"):
        await cache.get_key(kit.ISSUER, "sprayed-1")
    assert (route.call_count, cache.stats.cooldown_hits) == (2, 1)
    for i in range(2, 50):
        clock.advance(1.2)
        with pytest.raises(KeyNotFound):
            await cache.get_key(kit.ISSUER, f"sprayed-{i}")
    assert route.call_count == 2
    assert cache.stats.cooldown_hits == 49

    clock.advance(3)  # 60.6s after sprayed-0 armed the cooldown
    with pytest.raises(KeyNotFound):
        await cache.get_key(kit.ISSUER, "sprayed-50")
    assert route.call_count == 3
    assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"


async def test_unknown_kid_finds_a_rotated_key(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, rsa_key: Any, rsa_key2: Any
) -> None:
    route = kit.serve_jwks(router, kit.jwks(kit.public_jwk(rsa_key, "r1")))
    await cache.get_key(kit.ISSUER, "r1")
    route.side_effect = kit.responder(
        kit.jwks(kit.public_jwk(rsa_key, "r1"), kit.public_jwk(rsa_key2, "r2"))
    )
    clock.advance(60)
    assert (await cache.get_key(kit.ISSUER, "r2")).kid == "r2"
    assert route.call_count == 2


def _failures(kit: Any) -> dict[str, Any]:
    oct_only = kit.jwks({"kty": "oct", "kid": "r1", "k": "c2VjcmV0"})
    return {
        "refused": httpx.ConnectError("Connection refused"),
        "connect-timeout": httpx.ConnectTimeout("timed out"),
        "read-timeout": httpx.ReadTimeout("timed out"),
        "500": kit.responder({"error": "down"}, status=500),
        "503-html": lambda request: httpx.Response(503, text="<h1>maintenance</h1>"),
        "garbage": kit.responder(b"\x00\x01garbage"),
        "empty-set": kit.responder(kit.jwks()),
        "hs-secret-set": kit.responder(oct_only),
        "redirect": lambda request: httpx.Response(301, headers={"Location": "https://x.test/"}),
    }


FAILURE_IDS = ["refused", "connect-timeout", "read-timeout", "500", "503-html", "garbage",
               "empty-set", "hs-secret-set", "redirect"]  # fmt: skip


@pytest.mark.parametrize("failure", FAILURE_IDS)
async def test_issuer_down_with_warm_cache_serves_stale_keys(
    failure: str, kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, doc: bytes
) -> None:
    route = kit.serve_jwks(router, doc)
    good = await cache.get_key(kit.ISSUER, "r1")
    clock.advance(301)
    route.side_effect = _failures(kit)[failure]

    assert await cache.get_key(kit.ISSUER, "r1") is good
    assert (cache.stats.fetch_failures, cache.stats.stale_serves) == (1, 1)
    # Backing off: the next request is served stale without asking the issuer again.
    assert await cache.get_key(kit.ISSUER, "r1") is good
    assert route.call_count == 2
    assert cache.stats.stale_serves == 2

    route.side_effect = kit.responder(doc)
    clock.advance(1)
    fresh = await cache.get_key(kit.ISSUER, "r1")
    assert fresh is not good  # a new set, not the stale one re-dated
    assert route.call_count == 3
    assert cache.stats.stale_serves == 2


@pytest.mark.parametrize("failure", FAILURE_IDS)
async def test_issuer_down_with_cold_cache_is_keys_unavailable(
    failure: str, kit: Any, router: respx.MockRouter, cache: JWKSCache
) -> None:
    router.get(kit.JWKS_URL).mock(side_effect=_failures(kit)[failure])
    with pytest.raises(
        KeysUnavailable, match=r"issuer 'https://token\.example\.com': no keys"
    ) as e:
        await cache.get_key(kit.ISSUER, "r1")
    assert e.value.__cause__ is None
    with pytest.raises(KeysUnavailable):  # backing off: no second request
        await cache.get_key(kit.ISSUER, "r1")
    assert len(router.calls) == 1


async def test_retry_backoff_doubles_up_to_min_ttl(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, doc: bytes
) -> None:
    route = kit.serve_jwks(router, doc)
    await cache.get_key(kit.ISSUER, "r1")
    clock.advance(300)
    route.side_effect = httpx.ConnectError("refused")
    await cache.get_key(kit.ISSUER, "r1")  # failure 1
    for failures, backoff in enumerate([1, 2, 4, 8, 16, 32, 60, 60, 60], start=1):
        clock.advance(backoff - 0.01)
        await cache.get_key(kit.ISSUER, "r1")
        assert route.call_count == 1 + failures, f"retried before {backoff}s"
        clock.advance(0.01)
        await cache.get_key(kit.ISSUER, "r1")
        assert route.call_count == 2 + failures, f"no retry after {backoff}s"
    assert cache.stats.fetch_failures == 10


async def test_stale_beyond_max_stale_is_keys_unavailable(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, clock: Any, doc: bytes
) -> None:
    source = IssuerSource(kit.ISSUER, jwks_uri=kit.JWKS_URL)
    cache = JWKSCache([source], HttpKeyFetcher(client), clock=clock, max_stale=1000)
    route = kit.serve_jwks(router, doc)
    await cache.get_key(kit.ISSUER, "r1")
    route.side_effect = httpx.ConnectError("refused")
    clock.advance(999)
    assert (await cache.get_key(kit.ISSUER, "r1")).kid == "r1"
    clock.advance(1)
    with pytest.raises(KeysUnavailable, match="keys 1000s old, refresh failed"):
        await cache.get_key(kit.ISSUER, "r1")


async def test_good_keys_survive_a_bad_set_and_unknown_kids_during_outage(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, doc: bytes, ec_key: Any
) -> None:
    route = kit.serve_jwks(router, doc)
    good = await cache.get_key(kit.ISSUER, "r1")
    clock.advance(301)
    # A set that would drop r1 and add a private key: refused as a whole, r1 stays.
    bad = kit.jwks({**kit.public_jwk(ec_key, "e1"), "d": "c2VjcmV0"})
    route.side_effect = kit.responder(bad)
    assert await cache.get_key(kit.ISSUER, "r1") is good
    with pytest.raises(KeyNotFound):
        await cache.get_key(kit.ISSUER, "e1")
    assert route.call_count == 2


class _Broken:
    def __init__(self, result: Exception | FetchedKeys) -> None:
        self.result = result
        self.calls = 0

    async def fetch(self, source: IssuerSource) -> FetchedKeys:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.mark.parametrize(
    "result",
    [RuntimeError("boom"), ValueError("bad"), FetchedKeys(keys={}, document=b"", max_age=None)],
    ids=["runtime-error", "value-error", "empty-keys"],
)
async def test_misbehaving_fetcher_never_leaks_its_exception(
    result: Exception | FetchedKeys, kit: Any, clock: Any
) -> None:
    fetcher = _Broken(result)
    cache = JWKSCache([IssuerSource(kit.ISSUER)], fetcher, clock=clock)
    with pytest.raises(KeysUnavailable):
        await cache.get_key(kit.ISSUER, "r1")
    assert fetcher.calls == 1


def test_issuer_configured_twice_is_refused(kit: Any) -> None:
    source = IssuerSource(kit.ISSUER)
    with pytest.raises(ValueError, match="configured twice"):
        JWKSCache([source, source], _Broken(RuntimeError()))


@pytest.mark.parametrize(
    ("issuer", "kid", "error"),
    [
        (["https://token.example.com"], "r1", UnknownIssuer),
        (None, "r1", UnknownIssuer),
        ("https://token.example.com", ["r1"], KeyNotFound),
        ("https://token.example.com", 1, KeyNotFound),
    ],
    ids=["issuer-list", "issuer-none", "kid-list", "kid-int"],
)
async def test_non_string_claims_from_a_token_are_refused_cleanly(
    issuer: Any, kid: Any, error: type[Exception], router: respx.MockRouter, cache: JWKSCache
) -> None:
    with pytest.raises(error):
        await cache.get_key(issuer, kid)
    assert not router.calls


async def test_backoff_starts_over_after_a_success(
    kit: Any, router: respx.MockRouter, cache: JWKSCache, clock: Any, doc: bytes
) -> None:
    route = kit.serve_jwks(router, doc)
    await cache.get_key(kit.ISSUER, "r1")
    for backoff in [300, 1, 2, 4]:  # expiry, then three failures in a row
        clock.advance(backoff)
        route.side_effect = httpx.ConnectError("refused")
        await cache.get_key(kit.ISSUER, "r1")
    clock.advance(8)
    route.side_effect = kit.responder(doc)
    await cache.get_key(kit.ISSUER, "r1")
    assert (route.call_count, cache.stats.fetch_failures) == (6, 4)
    clock.advance(300)
    route.side_effect = httpx.ConnectError("refused")
    await cache.get_key(kit.ISSUER, "r1")
    clock.advance(1)  # one failure since the success: 1s, not 16s
    await cache.get_key(kit.ISSUER, "r1")
    assert route.call_count == 8
