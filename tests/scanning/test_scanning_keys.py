"""GitHub's scanning keys: the document, the fetch, and the cache across rotations and outages."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fakeissuer import Clock

from service.scanning.cache import PublicKeyCache
from service.scanning.fetch import HttpPublicKeyFetcher
from service.scanning.keys import (
    Fetched,
    KeyDocumentError,
    KeysUnavailable,
    NotModified,
    UnknownKey,
    parse_public_keys,
)
from service.settings import Settings, SettingsError

pytestmark = pytest.mark.anyio


# Through the endpoint: rotation and outages as GitHub would cause them.


async def test_rotated_key_is_fetched_once_then_unknown_ids_wait(scan: Any) -> None:
    async with scan.app() as (_, client):
        assert (await scan.report(client, scan.body("x"))).status_code == 200
        rotated = scan.new_key()
        scan.serve(scan.github, rotated)
        response = await scan.report(client, scan.body("x"), signer=rotated)
        assert response.status_code == 200, response.text
        assert scan.keys_route.call_count == 2
        # A sprayed identifier right after: refused without spending a request on GitHub.
        sprayed = await scan.report(client, scan.body("x"), signer=scan.new_key())
        assert sprayed.status_code == 401
        assert scan.keys_route.call_count == 2
        scan.clock.advance(60)
        await scan.report(client, scan.body("x"), signer=scan.new_key())
        assert scan.keys_route.call_count == 3


async def test_keys_endpoint_down_with_a_warm_cache_still_verifies(scan: Any) -> None:
    token = scan.mint()
    async with scan.app() as (_, client):
        assert (await scan.report(client, scan.body("x"))).status_code == 200
        scan.keys_route.side_effect = httpx.ConnectError("down")
        scan.clock.advance(3600)  # well past the TTL: stale keys, refresh fails
        response = await scan.report(client, scan.body(token))
    assert response.status_code == 200
    assert response.json()[0]["label"] == "true_positive"
    assert scan.keys_route.call_count == 2


async def test_keys_endpoint_down_with_a_cold_cache_is_503_and_revokes_nothing(
    scan: Any,
) -> None:
    scan.keys_route.respond(status_code=502)
    async with scan.app() as (_, client):
        response = await scan.report(client, scan.body(scan.mint()))
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["errors"][0]["code"] == "service-unavailable"
    assert scan.revocations.revoked == []


# The document.


def pem(public: Any) -> str:
    return str(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    )


def test_only_p256_keys_are_kept(scan: Any) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    entries = [
        scan.github.entry(),
        {"key_identifier": "rsa", "key": pem(rsa_key), "is_current": False},
        {"key_identifier": "p384", "key": pem(p384), "is_current": False},
        {"key_identifier": "junk", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n", "is_current": 0},
        {"key_identifier": 7, "key": pem(p384)},
        "not an entry",
    ]
    keys = parse_public_keys(json.dumps({"public_keys": entries}).encode())
    assert list(keys) == [scan.github.identifier]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"nope", id="not-json"),
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"keys": []}', id="jwks-shape"),
        pytest.param(b'{"public_keys": []}', id="empty"),
        pytest.param(
            json.dumps({"public_keys": [{"key_identifier": "x", "key": "y"}] * 33}).encode(),
            id="too-many",
        ),
    ],
)
def test_unusable_documents_are_refused(body: bytes) -> None:
    with pytest.raises(KeyDocumentError):
        parse_public_keys(body)


# The fetch.

URL = "https://keys.example/secret_scanning"


def fetcher(scan: Any, handler: Any) -> HttpPublicKeyFetcher:
    """The real fetcher and httpx client; respx (from `scan`) answers with `handler`."""
    scan.router.get(URL).mock(side_effect=handler)
    return HttpPublicKeyFetcher(httpx.AsyncClient(), URL)


@pytest.mark.parametrize(
    ("response", "message"),
    [
        pytest.param(
            httpx.Response(302, headers={"location": "https://evil.example/"}),
            "redirect",
            id="redirect",
        ),
        pytest.param(httpx.Response(500), "HTTP 500", id="server-error"),
        pytest.param(httpx.Response(200, text="<html>"), "not JSON", id="html"),
        pytest.param(
            httpx.Response(200, json={"public_keys": [], "pad": "x" * 70_000}),
            "larger than",
            id="oversize",
        ),
        pytest.param(httpx.Response(200, json={"public_keys": []}), "no usable", id="empty"),
    ],
)
async def test_bad_responses_are_fetch_errors(
    scan: Any, response: httpx.Response, message: str
) -> None:
    with pytest.raises(KeyDocumentError, match=message):
        await fetcher(scan, lambda request: response).fetch(None)


async def test_refetch_is_conditional_and_304_keeps_the_keys(scan: Any) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, json=scan.document(scan.github), headers={"etag": '"v1"'})

    first = await fetcher(scan, handler).fetch(None)
    assert isinstance(first, Fetched)
    assert first.etag == '"v1"'
    assert isinstance(await fetcher(scan, handler).fetch('"v1"'), NotModified)
    assert seen == [None, '"v1"']


@pytest.mark.parametrize(
    "url", ["http://api.github.com/keys", "https://user:pw@api.github.com/keys", "nope"]
)
def test_keys_url_must_be_plain_https(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        HttpPublicKeyFetcher(httpx.AsyncClient(), url)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("off", None), ("https://ghes.example/api/v3/meta/public_keys/secret_scanning", "same")],
)
def test_keys_url_setting(raw: str, expected: str | None) -> None:
    settings = Settings.from_env({"MINTGATE_SECRET_SCANNING_KEYS_URL": raw})
    assert settings.secret_scanning_keys_url == (raw if expected == "same" else None)


def test_plain_http_keys_url_stops_start_up() -> None:
    with pytest.raises(SettingsError, match="MINTGATE_SECRET_SCANNING_KEYS_URL"):
        Settings.from_env({"MINTGATE_SECRET_SCANNING_KEYS_URL": "http://api.github.com/x"})


# The cache.


class CountingFetcher:
    def __init__(self, keys: dict[str, Any]) -> None:
        self.keys = keys
        self.calls = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def fetch(self, etag: str | None) -> Fetched | NotModified:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise KeyDocumentError("down")
        return Fetched(keys=dict(self.keys), etag=None)


async def test_concurrent_misses_share_one_fetch(scan: Any, clock: Clock) -> None:
    source = CountingFetcher({"k": scan.github.private.public_key()})
    source.gate = asyncio.Event()
    cache = PublicKeyCache(source, clock=clock)
    waiters = [asyncio.create_task(cache.get("k")) for _ in range(20)]
    await asyncio.sleep(0)
    source.gate.set()
    assert len(set(map(id, await asyncio.gather(*waiters)))) == 1
    assert source.calls == 1


async def test_stale_keys_stop_verifying_after_max_stale(scan: Any, clock: Clock) -> None:
    source = CountingFetcher({"k": scan.github.private.public_key()})
    cache = PublicKeyCache(source, clock=clock, ttl=600, cooldown=60, max_stale=3600)
    await cache.get("k")
    source.fail = True
    clock.advance(601)
    await cache.get("k")  # refresh fails: stale-if-error
    clock.advance(0.5)
    await cache.get("k")  # inside the retry backoff: no new attempt
    assert source.calls == 2
    clock.advance(3600)
    with pytest.raises(KeysUnavailable):
        await cache.get("k")


async def test_cold_cache_backs_off_between_failed_fetches(clock: Clock) -> None:
    source = CountingFetcher({})
    source.fail = True
    cache = PublicKeyCache(source, clock=clock, cooldown=60)
    for _ in range(3):
        with pytest.raises(KeysUnavailable, match="down"):
            await cache.get("k")
    assert source.calls == 1
    clock.advance(1)
    with pytest.raises(KeysUnavailable):
        await cache.get("k")
    assert source.calls == 2


async def test_unknown_identifiers_refetch_once_per_cooldown(scan: Any, clock: Clock) -> None:
    source = CountingFetcher({"k": scan.github.private.public_key()})
    cache = PublicKeyCache(source, clock=clock, cooldown=60)
    await cache.get("k")
    for sprayed in ("a", "b", "c"):
        with pytest.raises(UnknownKey):
            await cache.get(sprayed)
    assert source.calls == 2
    clock.advance(60)
    source.keys["d"] = source.keys["k"]
    await cache.get("d")
    assert source.calls == 3
