"""Fetch GitHub's secret-scanning keys: one https GET with every limit enforced.

Same rules as `jwks_cache.fetch` for a different document: no redirects, a
size cap counted on undecoded bytes, JSON only, one deadline for the whole
fetch. Conditional requests (ETag) because GitHub's REST API rate-limits
anonymous callers, and a 304 does not count against that limit.
"""

from __future__ import annotations

import asyncio

import httpx

from .keys import MAX_KEYS, Fetched, KeyDocumentError, NotModified, parse_public_keys

MAX_BYTES = 64 * 1024


class HttpPublicKeyFetcher:
    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        max_bytes: int = MAX_BYTES,
        max_keys: int = MAX_KEYS,
        timeout: float = 5.0,
        deadline: float = 15.0,
    ) -> None:
        self._client = client
        self._url = checked_url(url)
        self._max_bytes = max_bytes
        self._max_keys = max_keys
        self._timeout = httpx.Timeout(timeout)
        self._deadline = deadline

    async def fetch(self, etag: str | None) -> Fetched | NotModified:
        try:
            # httpx timeouts are per read: a server dribbling bytes needs a whole-fetch bound.
            async with asyncio.timeout(self._deadline):
                return await self._fetch(etag)
        except TimeoutError:
            raise KeyDocumentError(f"{self._url}: took longer than {self._deadline:g}s") from None
        except httpx.TimeoutException:
            raise KeyDocumentError(f"{self._url}: timed out") from None
        except (httpx.HTTPError, httpx.StreamError) as exc:
            raise KeyDocumentError(f"{self._url}: {type(exc).__name__}") from None

    async def _fetch(self, etag: str | None) -> Fetched | NotModified:
        # identity: the cap must count what we parse; a small gzip body can inflate a lot.
        headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
        if etag is not None:
            headers["If-None-Match"] = etag
        async with self._client.stream(
            "GET", self._url, headers=headers, timeout=self._timeout, follow_redirects=False
        ) as response:
            if response.status_code == 304 and etag is not None:
                return NotModified()
            self._check(response)
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > self._max_bytes:
                    raise KeyDocumentError(f"{self._url}: body larger than {self._max_bytes} bytes")
            try:
                keys = parse_public_keys(bytes(body), max_keys=self._max_keys)
            except KeyDocumentError as exc:
                raise KeyDocumentError(f"{self._url}: {exc}") from None
            return Fetched(keys=keys, etag=response.headers.get("etag"))

    def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if 300 <= status < 400:
            # A redirect would escape the https rule checked at construction.
            raise KeyDocumentError(f"{self._url}: redirect ({status}) refused")
        if status != 200:
            raise KeyDocumentError(f"{self._url}: HTTP {status}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise KeyDocumentError(f"{self._url}: content type {media_type[:40]!r} is not JSON")
        if response.headers.get("content-encoding", "identity").strip().lower() != "identity":
            raise KeyDocumentError(f"{self._url}: compressed body refused")


def checked_url(raw: str) -> httpx.URL:
    """https only: these keys decide what gets revoked, so they must not travel in clear."""
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL:
        raise ValueError("not a valid URL") from None
    if url.scheme != "https" or not url.host or url.userinfo:
        raise ValueError("expected an https URL with a host and no credentials")
    return url
