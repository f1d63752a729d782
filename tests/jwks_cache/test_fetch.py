"""HttpKeyFetcher against respx-served issuers: the real httpx client, a mocked transport."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from jwks_cache import FetchError, HttpKeyFetcher, IssuerSource
from jwks_cache.fetch import max_age

pytestmark = pytest.mark.anyio


class Chunks(httpx.AsyncByteStream):
    """A body with no Content-Length, delivered in pieces like a real chunked response."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.sent += 1
            yield chunk


@pytest.fixture
def doc(kit: Any, rsa_key: Any, ec_key: Any) -> bytes:
    return bytes(kit.jwks(kit.public_jwk(rsa_key, "r1"), kit.public_jwk(ec_key, "e1")))


async def test_discovery_then_jwks(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, doc: bytes
) -> None:
    discovery = kit.serve_discovery(router)
    keys = kit.serve_jwks(router, doc, headers={"Cache-Control": "public, max-age=120"})
    fetched = await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))
    assert sorted(fetched.keys) == ["e1", "r1"]
    assert fetched.document == doc
    assert fetched.max_age == 120.0
    assert (discovery.call_count, keys.call_count) == (1, 1)
    request = keys.calls.last.request
    assert request.headers["Accept-Encoding"] == "identity"


async def test_discovery_for_issuer_with_path_and_trailing_slash(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, doc: bytes
) -> None:
    issuer = "https://token.example.com/octo-enterprise/"
    router.get("https://token.example.com/octo-enterprise/.well-known/openid-configuration").mock(
        side_effect=kit.responder({"issuer": issuer, "jwks_uri": kit.JWKS_URL})
    )
    kit.serve_jwks(router, doc)
    fetched = await HttpKeyFetcher(client).fetch(IssuerSource(issuer))
    assert sorted(fetched.keys) == ["e1", "r1"]


async def test_configured_jwks_uri_skips_discovery(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, doc: bytes
) -> None:
    discovery = kit.serve_discovery(router)
    keys = kit.serve_jwks(router, doc, url="https://token.example.com/keys")
    source = IssuerSource(kit.ISSUER, jwks_uri="https://token.example.com/keys")
    fetched = await HttpKeyFetcher(client).fetch(source)
    assert sorted(fetched.keys) == ["e1", "r1"]
    assert fetched.max_age is None
    assert (discovery.call_count, keys.call_count) == (0, 1)


@pytest.mark.parametrize(
    ("found", "why"),
    [
        ("https://token.example.com/", "trailing-slash"),
        ("https://TOKEN.example.com", "case"),
        ("https://evil.example.com", "other-issuer"),
        (None, "missing"),
    ],
    ids=lambda v: v if isinstance(v, str) and not v.startswith("http") else "",
)
async def test_discovery_issuer_must_match_exactly(
    found: str | None,
    why: str,
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    doc: bytes,
) -> None:
    router.get(kit.DISCOVERY_URL).mock(
        side_effect=kit.responder({"issuer": found, "jwks_uri": kit.JWKS_URL})
    )
    keys = kit.serve_jwks(router, doc)
    with pytest.raises(
        FetchError, match=re.escape("issuer expected 'https://token.example.com', got")
    ):
        await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))
    assert keys.call_count == 0


@pytest.mark.parametrize(
    "discovery",
    [b"not json", b"[1, 2]", b'{"issuer": "https://token.example.com", "jwks_uri": 7}'],
    ids=["garbage", "array", "jwks-uri-not-string"],
)
async def test_bad_discovery_document_is_refused(
    discovery: bytes, kit: Any, router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    router.get(kit.DISCOVERY_URL).mock(side_effect=kit.responder(discovery))
    with pytest.raises(FetchError, match="discovery"):
        await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))


async def test_jwks_uri_on_another_host_is_refused_unless_allowed(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, doc: bytes
) -> None:
    elsewhere = "https://keys.example.net/jwks"
    kit.serve_discovery(router, jwks_uri=elsewhere)
    keys = kit.serve_jwks(router, doc, url=elsewhere)
    with pytest.raises(
        FetchError, match=re.escape("host 'keys.example.net' is not the issuer's host")
    ):
        await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))
    assert keys.call_count == 0

    allowed = IssuerSource(kit.ISSUER, allowed_hosts=frozenset({"KEYS.example.net"}))
    fetched = await HttpKeyFetcher(client).fetch(allowed)
    assert sorted(fetched.keys) == ["e1", "r1"]
    assert keys.call_count == 1


async def test_configured_jwks_uri_obeys_the_host_rule_too(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    source = IssuerSource(kit.ISSUER, jwks_uri="https://keys.example.net/jwks")
    with pytest.raises(FetchError, match="not the issuer's host"):
        await HttpKeyFetcher(client).fetch(source)
    assert not router.calls


@pytest.mark.parametrize(
    ("issuer", "allow", "ok"),
    [
        ("http://127.0.0.1:8080", False, False),
        ("http://127.0.0.1:8080", True, True),
        ("http://127.9.9.9:8080", True, True),
        ("http://localhost:8080", True, True),
        ("http://[::1]:8080", True, True),
        ("http://10.0.0.1:8080", True, False),
        ("http://token.example.com", True, False),
        ("http://localhost.example.com", True, False),
        ("ftp://127.0.0.1", True, False),
    ],
    ids=[
        "loopback-not-enabled",
        "loopback-v4",
        "loopback-v4-range",
        "localhost",
        "loopback-v6",
        "private-network",
        "public-host",
        "localhost-lookalike",
        "not-http",
    ],
)
async def test_plain_http_only_for_loopback_when_enabled(
    issuer: str,
    allow: bool,
    ok: bool,
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
    doc: bytes,
) -> None:
    jwks_uri = issuer + "/jwks"
    kit.serve_discovery(router, issuer=issuer, jwks_uri=jwks_uri)
    kit.serve_jwks(router, doc, url=jwks_uri)
    fetcher = HttpKeyFetcher(client, allow_loopback_http=allow)
    if ok:
        assert sorted((await fetcher.fetch(IssuerSource(issuer))).keys) == ["e1", "r1"]
    else:
        with pytest.raises(FetchError, match="https is required"):
            await fetcher.fetch(IssuerSource(issuer))
        assert not router.calls


async def test_discovered_http_jwks_uri_is_refused(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, doc: bytes
) -> None:
    kit.serve_discovery(router, jwks_uri="http://token.example.com/jwks")
    keys = kit.serve_jwks(router, doc, url="http://token.example.com/jwks")
    with pytest.raises(
        FetchError, match=re.escape("jwks_uri http://token.example.com/jwks: https is required")
    ):
        await HttpKeyFetcher(client, allow_loopback_http=True).fetch(IssuerSource(kit.ISSUER))
    assert keys.call_count == 0


async def test_credentials_in_jwks_uri_are_refused(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    kit.serve_discovery(router, jwks_uri="https://user:pw@token.example.com/jwks")
    with pytest.raises(FetchError, match="credentials in URLs are refused"):
        await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))


@pytest.mark.parametrize("where", ["discovery", "jwks"])
async def test_redirect_is_refused_even_if_the_client_follows_them(
    where: str, kit: Any, router: respx.MockRouter, doc: bytes
) -> None:
    target = "https://token.example.com/moved"
    url = kit.DISCOVERY_URL if where == "discovery" else kit.JWKS_URL
    if where == "jwks":
        kit.serve_discovery(router)
    router.get(url).mock(return_value=httpx.Response(302, headers={"Location": target}))
    moved = router.get(target).mock(side_effect=kit.responder(doc))
    async with httpx.AsyncClient(follow_redirects=True) as client:
        with pytest.raises(FetchError, match=r"redirect \(302\) refused"):
            await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))
    assert moved.call_count == 0


async def test_body_at_the_limit_passes_one_byte_more_fails(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, doc: bytes
) -> None:
    kit.serve_discovery(router)
    kit.serve_jwks(router, doc)
    fetched = await HttpKeyFetcher(client, max_bytes=len(doc)).fetch(IssuerSource(kit.ISSUER))
    assert fetched.document == doc
    with pytest.raises(FetchError, match=f"Content-Length {len(doc)} exceeds {len(doc) - 1}"):
        await HttpKeyFetcher(client, max_bytes=len(doc) - 1).fetch(IssuerSource(kit.ISSUER))


@pytest.mark.parametrize("content_length", [None, "10"], ids=["no-length", "lying-length"])
async def test_oversized_streamed_body_is_cut_off(
    content_length: str | None,
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
) -> None:
    stream = Chunks(*([b" " * 1024] * 1000))  # ~1 MB of whitespace, valid JSON padding
    headers = {"Content-Type": "application/json"}
    if content_length:
        headers["Content-Length"] = content_length
    kit.serve_discovery(router)
    router.get(kit.JWKS_URL).mock(return_value=httpx.Response(200, headers=headers, stream=stream))
    with pytest.raises(FetchError, match="body larger than 4096 bytes"):
        await HttpKeyFetcher(client, max_bytes=4096).fetch(IssuerSource(kit.ISSUER))
    assert stream.sent < 10  # stopped reading, did not drain the megabyte


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(500, json={}), "HTTP 500"),
        (httpx.Response(404, json={}), "HTTP 404"),
        (httpx.Response(200, text="<html>keys</html>"), "content type 'text/plain' is not JSON"),
        (httpx.Response(200, content=b"{}"), "content type '' is not JSON"),
        (
            httpx.Response(
                200,
                content=b"x",
                headers={
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                },
            ),
            "content encoding 'gzip' refused",
        ),
        (
            httpx.Response(200, content=b"{not json", headers={"Content-Type": "application/json"}),
            "not valid JSON",
        ),
    ],
    ids=["500", "404", "html", "no-content-type", "gzip", "garbage-json"],
)
async def test_bad_jwks_response_is_refused(
    response: httpx.Response,
    message: str,
    kit: Any,
    router: respx.MockRouter,
    client: httpx.AsyncClient,
) -> None:
    kit.serve_discovery(router)
    router.get(kit.JWKS_URL).mock(return_value=response)
    with pytest.raises(FetchError, match=message):
        await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))


async def test_jwks_set_content_type_is_json(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, doc: bytes
) -> None:
    kit.serve_discovery(router)
    kit.serve_jwks(router, doc, headers={"Content-Type": "application/jwk-set+json"})
    assert sorted((await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))).keys)


async def test_keyset_rules_apply_to_fetched_documents(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient, ec_key: Any
) -> None:
    kit.serve_discovery(router)
    kit.serve_jwks(router, kit.jwks(*(kit.public_jwk(ec_key, f"k{i}") for i in range(5))))
    with pytest.raises(FetchError, match=r"jwks_uri .*: JWKS has 5 keys, at most 4 allowed"):
        await HttpKeyFetcher(client, max_keys=4).fetch(IssuerSource(kit.ISSUER))
    oct_key = {"kty": "oct", "kid": "h1", "k": "c2VjcmV0"}
    kit.serve_jwks(router, kit.jwks(kit.public_jwk(ec_key, "e1"), oct_key))
    with pytest.raises(FetchError, match="private or symmetric key material"):
        await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("bad"),
    ],
    ids=["refused", "connect-timeout", "read-timeout", "protocol"],
)
async def test_transport_errors_become_fetch_errors(
    error: Exception, kit: Any, router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    router.get(kit.DISCOVERY_URL).mock(side_effect=error)
    with pytest.raises(FetchError, match=r"openid-configuration: (timed out|\w+Error)") as info:
        await HttpKeyFetcher(client).fetch(IssuerSource(kit.ISSUER))
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


async def test_whole_fetch_has_a_deadline(
    kit: Any, router: respx.MockRouter, client: httpx.AsyncClient
) -> None:
    never = asyncio.Event()

    async def hang(request: httpx.Request) -> httpx.Response:
        await never.wait()
        raise AssertionError("unreachable")

    router.get(kit.DISCOVERY_URL).mock(side_effect=hang)
    with pytest.raises(FetchError, match=re.escape("took longer than 0.05s")):
        await HttpKeyFetcher(client, deadline=0.05).fetch(IssuerSource(kit.ISSUER))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Cache-Control": "max-age=300"}, 300.0),
        ({"Cache-Control": "public, MAX-AGE=60, must-revalidate"}, 60.0),
        ({"Cache-Control": 'max-age="90"'}, 90.0),
        ({"Cache-Control": "max-age=300", "Age": "100"}, 200.0),
        ({"Cache-Control": "max-age=300", "Age": "900"}, 0.0),
        ({"Cache-Control": "max-age=-5"}, None),
        ({"Cache-Control": "max-age=soon"}, None),
        ({"Cache-Control": "no-cache, max-age=300"}, 0.0),
        ({"Cache-Control": "no-store"}, 0.0),
    ],
    ids=[
        "absent",
        "plain",
        "mixed-case",
        "quoted",
        "minus-age",
        "aged-out",
        "negative",
        "not-a-number",
        "no-cache",
        "no-store",
    ],
)
def test_max_age_from_cache_control(headers: dict[str, str], expected: float | None) -> None:
    assert max_age(httpx.Headers(headers)) == expected
