"""Fetch an issuer's JWKS over HTTPS: OIDC discovery, then the jwks_uri, with every limit enforced.

Everything the network hands back is hostile until proven otherwise: the URLs
it names, its redirects, its size, its content type. Every failure becomes a
`FetchError` whose message names the URL and what was wrong, never a body or
a stack trace.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from typing import Any

import httpx

from .keyset import DEFAULT_MAX_KEYS, parse_jwks
from .model import FetchedKeys, FetchError, InvalidKeySet, IssuerSource

_DISCOVERY_PATH = "/.well-known/openid-configuration"
_ACCEPT = "application/jwk-set+json, application/json"


class HttpKeyFetcher:
    """`KeyFetcher` over a caller-owned `httpx.AsyncClient` (so tests swap its transport).

    `deadline` bounds a whole fetch (discovery + JWKS): httpx timeouts are per
    operation, so a server dribbling one byte per read would otherwise hold a
    fetch, and every waiter behind it, for as long as it likes.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_bytes: int = 512 * 1024,
        max_keys: int = DEFAULT_MAX_KEYS,
        timeout: httpx.Timeout = httpx.Timeout(5.0, connect=3.0),  # noqa: B008 (immutable)
        allow_loopback_http: bool = False,
        deadline: float = 15.0,
    ) -> None:
        self._client = client
        self._max_bytes = max_bytes
        self._max_keys = max_keys
        self._timeout = timeout
        self._allow_loopback_http = allow_loopback_http
        self._deadline = deadline

    async def fetch(self, source: IssuerSource) -> FetchedKeys:
        try:
            async with asyncio.timeout(self._deadline):
                return await self._fetch(source)
        except TimeoutError:
            raise FetchError(
                f"{source.issuer}: JWKS fetch took longer than {self._deadline:g}s"
            ) from None

    async def _fetch(self, source: IssuerSource) -> FetchedKeys:
        issuer_url = self._checked_url(source.issuer, "issuer")
        if source.jwks_uri is None:
            jwks_uri = await self._discover(source.issuer)
        else:
            jwks_uri = source.jwks_uri
        jwks_url = self._checked_url(jwks_uri, "jwks_uri")
        allowed = {issuer_url.host} | {h.lower() for h in source.allowed_hosts}
        if jwks_url.host not in allowed:
            # Discovery is answered by the issuer's host; letting it point keys at any host
            # would turn one compromised document into keys served from anywhere.
            raise FetchError(
                f"jwks_uri {jwks_uri}: host {jwks_url.host!r} is not the issuer's host "
                f"{issuer_url.host!r} nor among its allowed hosts"
            )
        body, headers = await self._get(jwks_url)
        try:
            keys = parse_jwks(body, max_keys=self._max_keys)
        except InvalidKeySet as exc:
            raise FetchError(f"jwks_uri {jwks_uri}: {exc}") from None
        return FetchedKeys(keys=keys, document=body, max_age=max_age(headers))

    async def _discover(self, issuer: str) -> str:
        # OpenID Connect Discovery 1.0 section 4: drop one terminating "/" before appending.
        base = issuer[:-1] if issuer.endswith("/") else issuer
        url = self._checked_url(base + _DISCOVERY_PATH, "discovery URL")
        body, _ = await self._get(url)
        doc = _json_object(body, f"discovery {url}")
        found = doc.get("issuer")
        if found != issuer:
            # Section 4.3: a document for another issuer must not be used, even on the same host.
            raise FetchError(f"discovery {url}: issuer expected {issuer!r}, got {_short(found)}")
        jwks_uri = doc.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchError(f"discovery {url}: 'jwks_uri' missing or not a string")
        return jwks_uri

    def _checked_url(self, raw: str, what: str) -> httpx.URL:
        try:
            url = httpx.URL(raw)
        except (httpx.InvalidURL, TypeError, ValueError):
            raise FetchError(f"{what} {_short(raw)} is not a valid URL") from None
        if not url.host:
            raise FetchError(f"{what} {raw}: no host")
        if url.userinfo:
            raise FetchError(f"{what} {raw}: credentials in URLs are refused")
        if url.scheme == "https":
            return url
        if url.scheme == "http" and self._allow_loopback_http and _is_loopback(url.host):
            return url
        raise FetchError(f"{what} {raw}: https is required")

    async def _get(self, url: httpx.URL) -> tuple[bytes, httpx.Headers]:
        try:
            async with self._client.stream(
                "GET",
                url,
                # identity: the size cap must count the bytes we decode, and a small gzip
                # body can inflate a thousandfold before any cap on raw bytes would notice.
                headers={"Accept": _ACCEPT, "Accept-Encoding": "identity"},
                timeout=self._timeout,
                follow_redirects=False,
            ) as response:
                self._check_response(url, response)
                body = bytearray()
                async for chunk in response.aiter_raw():
                    body += chunk
                    if len(body) > self._max_bytes:
                        raise FetchError(f"{url}: body larger than {self._max_bytes} bytes")
                return bytes(body), response.headers
        except httpx.TimeoutException:
            raise FetchError(f"{url}: timed out") from None
        except (httpx.HTTPError, httpx.StreamError, httpx.InvalidURL) as exc:
            raise FetchError(f"{url}: {type(exc).__name__}") from None

    def _check_response(self, url: httpx.URL, response: httpx.Response) -> None:
        status = response.status_code
        if 300 <= status < 400:
            # A redirect would escape the https and host rules checked above.
            raise FetchError(f"{url}: redirect ({status}) refused")
        if status != 200:
            raise FetchError(f"{url}: HTTP {status}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise FetchError(f"{url}: content type {_short(media_type)} is not JSON")
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise FetchError(f"{url}: content encoding {_short(encoding)} refused")
        length = response.headers.get("content-length")
        # Only an early refusal: the streamed count below is what enforces the cap.
        if length is not None and length.isdigit() and int(length) > self._max_bytes:
            raise FetchError(f"{url}: Content-Length {length} exceeds {self._max_bytes} bytes")


def max_age(headers: httpx.Headers) -> float | None:
    """Freshness lifetime left per Cache-Control (RFC 9111 5.2.2.1) minus Age; None if absent."""
    directives = [d.strip().lower() for d in headers.get_list("cache-control", split_commas=True)]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age":
            value = value.strip().strip('"')
            if not value.isdigit():
                return None
            age = headers.get("age", "0").strip()
            # A shared cache in front of the issuer may already have held the document a while.
            return float(max(int(value) - (int(age) if age.isdigit() else 0), 0))
    return None


def _json_object(body: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise FetchError(f"{where}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise FetchError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    return doc


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
